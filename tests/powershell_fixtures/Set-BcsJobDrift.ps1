function Set-BcsJobDrift {
    <#
    .SYNOPSIS
    A cmdlet whose private helper (private/Add-BcsJobDrift.ps1) drifted from it and from job.set.

    .DESCRIPTION
    The contract check must find the helper's keys and type them with the helper's parameters;
    the forwarding check must find every way the splat and the declarations disagree.

    .PARAMETER JobId
    The job.

    .PARAMETER Authentication
    Scheme.

    .PARAMETER RetryInterval
    Seconds.

    .PARAMETER BandwidthLimit
    Bytes/s.

    .PARAMETER Credential
    Credentials.

    .EXAMPLE
    Set-BcsJobDrift -JobId $id -RetryInterval 60

    .OUTPUTS
    Bcs.Job
    #>
    [CmdletBinding(SupportsShouldProcess, ConfirmImpact = 'Medium')]
    [OutputType('Bcs.Job')]
    param(
        [Parameter(Mandatory, Position = 0, ValueFromPipelineByPropertyName)]
        [string]$JobId,

        [ValidateSet('Basic', 'Digest', 'NTLM', 'Negotiate')]
        [string]$Authentication = 'Negotiate',

        [Parameter()]
        [ValidateRange(5, [int]::MaxValue)]
        [int]$RetryInterval,

        [ValidateRange(0, [long]::MaxValue)]
        [long]$BandwidthLimit,

        [System.Management.Automation.PSCredential]$Credential
    )

    process {
        $params = @{ jobId = $JobId }
        $setting = @{}
        foreach ($name in $script:BcsDriftParameters) {
            if ($PSBoundParameters.ContainsKey($name)) {
                $setting[$name] = $PSBoundParameters[$name]
            }
        }
        Add-BcsJobDrift -Params $params -Authentication $Authentication -RetryInterval 60 @setting
        if ($PSCmdlet.ShouldProcess($JobId, 'Change BITS job properties')) {
            Invoke-BcsRpc -Cmdlet $PSCmdlet -Method 'job.set' -Params $params
        }
    }
}
