function Set-BcsUrlGroup {
    <#
    .SYNOPSIS
    A drifted copy of Set-BcsUrlGroup: one key renamed, one mistyped, one method unknown.

    .DESCRIPTION
    The contract check must fail on each of them.

    .PARAMETER UrlGroup
    The group.

    .PARAMETER ConnectionLimit
    Limit.

    .PARAMETER BandwidthLimit
    Bytes/s.

    .PARAMETER Authentication
    Schemes.

    .EXAMPLE
    Set-BcsUrlGroup -UrlGroup 'http://+:8080/Demo/' -ConnectionLimit 2

    .OUTPUTS
    Bcs.UrlGroup
    #>
    [CmdletBinding(SupportsShouldProcess, ConfirmImpact = 'Medium')]
    [OutputType('Bcs.UrlGroup')]
    param(
        [Parameter(Mandatory, Position = 0, ValueFromPipelineByPropertyName)]
        [string]$UrlGroup,

        [int]$ConnectionLimit,

        [string]$BandwidthLimit,

        [ValidateSet('Negotiate', 'NTLM')]
        [string[]]$Authentication
    )

    process {
        $params = @{ urlGroup = $UrlGroup }
        if ($PSBoundParameters.ContainsKey('ConnectionLimit')) {
            $params['connectionLimits'] = $ConnectionLimit
        }
        if ($PSBoundParameters.ContainsKey('BandwidthLimit')) {
            $params['bandwidthLimit'] = $BandwidthLimit
        }
        if ($PSBoundParameters.ContainsKey('Authentication')) {
            $params['authentication'] = $Authentication
        }
        if ($PSCmdlet.ShouldProcess($UrlGroup, 'Change URL group settings')) {
            Invoke-BcsRpc -Cmdlet $PSCmdlet -Method 'urlgroup.set' -Params $params
            Invoke-BcsRpc -Cmdlet $PSCmdlet -Method 'urlgroup.update' -Params @{ urlGroup = $UrlGroup }
        }
    }
}
