function Add-BcsJobDrift {
    <#
    .SYNOPSIS
    The drifted helper of Set-BcsJobDrift: a renamed key, a string for an integer, declarations
    that differ from the caller's, a parameter nobody passes.

    .DESCRIPTION
    Set-BcsJobDrift declares -BandwidthLimit as [long]; only the helper's [string] shows that
    bandwidthLimit goes out as a JSON string.

    .PARAMETER Params
    The params of job.set.

    .PARAMETER Authentication
    Scheme, with a default that differs from the caller's.

    .PARAMETER RetryInterval
    Seconds, without the caller's ValidateRange.

    .PARAMETER BandwidthLimit
    Bytes/s, a [string] where the caller has [long].

    .PARAMETER Credential
    Credentials.

    .PARAMETER Proxy
    Neither splatted nor passed by the caller.

    .EXAMPLE
    Add-BcsJobDrift -Params $params @setting

    .OUTPUTS
    None.
    #>
    [CmdletBinding()]
    [OutputType([void])]
    param(
        [Parameter(Mandatory)]
        [hashtable]$Params,

        [ValidateSet('Basic', 'Digest', 'NTLM', 'Negotiate')]
        [string]$Authentication = 'Basic',

        [Parameter()]
        [int]$RetryInterval,

        [string]$BandwidthLimit,

        [System.Management.Automation.PSCredential]$Credential,

        [string]$Proxy
    )

    if ($PSBoundParameters.ContainsKey('RetryInterval')) {
        $Params['retryDelay'] = $RetryInterval
    }
    if ($PSBoundParameters.ContainsKey('BandwidthLimit')) {
        $Params['bandwidthLimit'] = $BandwidthLimit
    }
    if ($PSBoundParameters.ContainsKey('Credential')) {
        $Params['credentials'] = @(ConvertTo-BcsCredential -Credential $Credential -Scheme $Authentication -Target 'Server')
    }
    if ($PSBoundParameters.ContainsKey('Proxy')) {
        $Params['proxyList'] = @($Proxy)
    }
}
