function Set-BcsJob {
    <#
    .SYNOPSIS
    Changes properties of a BITS transfer job.

    .DESCRIPTION
    Mirrors Set-BitsTransfer: only the properties given change (job.set). Returns the job.

    .PARAMETER JobId
    The job's GUID.

    .PARAMETER DisplayName
    The job's display name (at most 256 characters).

    .PARAMETER Description
    The job's description (at most 1024 characters).

    .PARAMETER Priority
    Foreground, High, Normal or Low.

    .PARAMETER Credential
    Credentials for the server; replaces earlier ones for the same scheme.

    .PARAMETER Authentication
    Scheme for -Credential: Basic, Digest, NTLM or Negotiate (default).

    .PARAMETER ProxyUsage
    SystemDefault, NoProxy, Override (use -ProxyList and -ProxyBypass) or AutoDetect.

    .PARAMETER ProxyList
    Proxy URLs, with -ProxyUsage Override.

    .PARAMETER ProxyBypass
    Host names that bypass the proxy, with -ProxyUsage Override.

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
    BITS security flags (redirect policy, certificate checks).

    .PARAMETER CertificateAuthorityFile
    PEM file of CA certificates that verify HTTPS servers.

    .PARAMETER ClientCertificateFile
    PEM file holding the client certificate and its key for HTTPS.

    .PARAMETER BandwidthLimit
    Bytes per second for this job; 0 = unlimited.

    .PARAMETER Dynamic
    Whether the content is dynamic (no size or Range support; restarts from 0 when interrupted).

    .EXAMPLE
    Set-BcsJob -JobId $job.JobId -Priority Low -RetryInterval 60

    .EXAMPLE
    Get-BcsJob -Name 'Nightly*' | Set-BcsJob -BandwidthLimit 1MB

    .OUTPUTS
    Bcs.Job
    #>
    [CmdletBinding(SupportsShouldProcess, ConfirmImpact = 'Medium')]
    [OutputType('Bcs.Job')]
    param(
        [Parameter(Mandatory, Position = 0, ValueFromPipelineByPropertyName)]
        [string]$JobId,

        [ValidateLength(1, 256)]
        [string]$DisplayName,

        [ValidateLength(0, 1024)]
        [string]$Description,

        [ValidateSet('Foreground', 'High', 'Normal', 'Low')]
        [string]$Priority,

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

        [bool]$Dynamic
    )

    process {
        $params = @{ jobId = $JobId }
        if ($PSBoundParameters.ContainsKey('DisplayName')) {
            $params['displayName'] = $DisplayName
        }
        if ($PSBoundParameters.ContainsKey('Priority')) {
            $params['priority'] = $Priority
        }
        $setting = @{}
        foreach ($name in $script:BcsJobSettingParameters) {
            if ($PSBoundParameters.ContainsKey($name)) {
                $setting[$name] = $PSBoundParameters[$name]
            }
        }
        Add-BcsJobSetting -Cmdlet $PSCmdlet -Params $params -Authentication $Authentication -ProxyAuthentication $ProxyAuthentication @setting
        if ($PSCmdlet.ShouldProcess($JobId, 'Change BITS job properties')) {
            Invoke-BcsRpc -Cmdlet $PSCmdlet -Method 'job.set' -Params $params | ConvertTo-BcsObject -TypeName 'Bcs.Job'
        }
    }
}
