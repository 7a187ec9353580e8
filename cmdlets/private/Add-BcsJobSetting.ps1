function Add-BcsJobSetting {
    <#
    .SYNOPSIS
    Adds the job settings that Start-BcsJob and Set-BcsJob share to the params of job.create or job.set.

    .DESCRIPTION
    Each setting is added only when its parameter is bound here, and the callers bind here exactly
    the parameters the user bound on them: they splat the bound ones named in
    $script:BcsJobSettingParameters, so a default value never turns into a key (as with the inline
    code this replaces). -Authentication and -ProxyAuthentication are always passed, because the
    caller's default scheme applies when only -Credential or -ProxyCredential is bound. Relative
    certificate paths resolve against the caller's location through the caller's $PSCmdlet.
    Every parameter but -Cmdlet and -Params is declared as in both callers (a static test keeps
    the declarations identical).

    .PARAMETER Cmdlet
    The calling cmdlet's $PSCmdlet (resolves -CertificateAuthorityFile and -ClientCertificateFile).

    .PARAMETER Params
    The params hashtable of job.create or job.set; the settings are added to it.

    .PARAMETER Description
    The job's description (at most 1024 characters).

    .PARAMETER Credential
    Credentials for the server.

    .PARAMETER Authentication
    Scheme for -Credential: Basic, Digest, NTLM or Negotiate (default).

    .PARAMETER ProxyUsage
    SystemDefault, NoProxy, Override or AutoDetect.

    .PARAMETER ProxyList
    Proxy URLs.

    .PARAMETER ProxyBypass
    Host names that bypass the proxy.

    .PARAMETER ProxyCredential
    Credentials for the proxy.

    .PARAMETER ProxyAuthentication
    Scheme for -ProxyCredential: Basic, Digest, NTLM or Negotiate (default).

    .PARAMETER RetryInterval
    Seconds to wait after a transient error before retrying (at least 5).

    .PARAMETER RetryTimeout
    Seconds without progress after which a transient error becomes fatal.

    .PARAMETER MaxDownloadTime
    Seconds the job may take in all before it fails.

    .PARAMETER CustomHeaders
    Extra request headers, 'Name: value'.

    .PARAMETER SecurityFlags
    BITS security flags.

    .PARAMETER CertificateAuthorityFile
    PEM file of CA certificates that verify HTTPS servers.

    .PARAMETER ClientCertificateFile
    PEM file holding the client certificate and its key.

    .PARAMETER BandwidthLimit
    Bytes per second for this job; 0 = unlimited.

    .PARAMETER Dynamic
    Dynamic content. A [switch] here: Start-BcsJob binds its [switch], Set-BcsJob its [bool]
    ($true/$false bind to a switch when splatted); either way the engine gets a JSON boolean.

    .EXAMPLE
    $setting = @{}
    foreach ($name in $script:BcsJobSettingParameters) {
        if ($PSBoundParameters.ContainsKey($name)) {
            $setting[$name] = $PSBoundParameters[$name]
        }
    }
    Add-BcsJobSetting -Cmdlet $PSCmdlet -Params $params -Authentication $Authentication -ProxyAuthentication $ProxyAuthentication @setting

    .OUTPUTS
    None; the settings are added to -Params.
    #>
    [CmdletBinding()]
    [OutputType([void])]
    param(
        [Parameter(Mandatory)]
        [System.Management.Automation.PSCmdlet]$Cmdlet,

        [Parameter(Mandatory)]
        [hashtable]$Params,

        [ValidateLength(0, 1024)]
        [string]$Description,

        [System.Management.Automation.PSCredential]$Credential,

        [ValidateSet('Basic', 'Digest', 'NTLM', 'Negotiate')]
        [string]$Authentication = 'Negotiate',

        [Parameter()]
        [ValidateSet('SystemDefault', 'NoProxy', 'Override', 'AutoDetect')]
        [string]$ProxyUsage,

        [string[]]$ProxyList,

        [string[]]$ProxyBypass,

        [System.Management.Automation.PSCredential]$ProxyCredential,

        [ValidateSet('Basic', 'Digest', 'NTLM', 'Negotiate')]
        [string]$ProxyAuthentication = 'Negotiate',

        [Parameter()]
        [ValidateRange(5, [int]::MaxValue)]
        [int]$RetryInterval,

        [ValidateRange(0, [int]::MaxValue)]
        [int]$RetryTimeout,

        [ValidateRange(0, [int]::MaxValue)]
        [int]$MaxDownloadTime,

        [string[]]$CustomHeaders,

        [ValidateRange(0, [int]::MaxValue)]
        [int]$SecurityFlags,

        [string]$CertificateAuthorityFile,

        [string]$ClientCertificateFile,

        [ValidateRange(0, [long]::MaxValue)]
        [long]$BandwidthLimit,

        [switch]$Dynamic
    )

    if ($PSBoundParameters.ContainsKey('Description')) {
        $Params['description'] = $Description
    }
    $credentials = @()
    if ($PSBoundParameters.ContainsKey('Credential')) {
        $credentials += ConvertTo-BcsCredential -Credential $Credential -Scheme $Authentication -Target 'Server'
    }
    if ($PSBoundParameters.ContainsKey('ProxyCredential')) {
        $credentials += ConvertTo-BcsCredential -Credential $ProxyCredential -Scheme $ProxyAuthentication -Target 'Proxy'
    }
    if ($credentials.Count -gt 0) {
        $Params['credentials'] = $credentials
    }
    if ($PSBoundParameters.ContainsKey('ProxyUsage')) {
        $Params['proxyUsage'] = $ProxyUsage
    }
    if ($PSBoundParameters.ContainsKey('ProxyList')) {
        $Params['proxyList'] = $ProxyList
    }
    if ($PSBoundParameters.ContainsKey('ProxyBypass')) {
        $Params['proxyBypass'] = $ProxyBypass
    }
    if ($PSBoundParameters.ContainsKey('RetryInterval')) {
        $Params['minimumRetryDelay'] = $RetryInterval
    }
    if ($PSBoundParameters.ContainsKey('RetryTimeout')) {
        $Params['noProgressTimeout'] = $RetryTimeout
    }
    if ($PSBoundParameters.ContainsKey('MaxDownloadTime')) {
        $Params['maxDownloadTime'] = $MaxDownloadTime
    }
    if ($PSBoundParameters.ContainsKey('CustomHeaders')) {
        $Params['customHeaders'] = $CustomHeaders
    }
    if ($PSBoundParameters.ContainsKey('SecurityFlags')) {
        $Params['securityFlags'] = $SecurityFlags
    }
    if ($PSBoundParameters.ContainsKey('CertificateAuthorityFile')) {
        $Params['caBundle'] = [string]$Cmdlet.GetUnresolvedProviderPathFromPSPath($CertificateAuthorityFile)
    }
    if ($PSBoundParameters.ContainsKey('ClientCertificateFile')) {
        $Params['clientCertificate'] = [string]$Cmdlet.GetUnresolvedProviderPathFromPSPath($ClientCertificateFile)
    }
    if ($PSBoundParameters.ContainsKey('BandwidthLimit')) {
        $Params['bandwidthLimit'] = $BandwidthLimit
    }
    if ($PSBoundParameters.ContainsKey('Dynamic')) {
        $Params['dynamic'] = $Dynamic.IsPresent
    }
}
