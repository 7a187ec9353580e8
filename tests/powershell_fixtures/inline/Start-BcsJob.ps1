function Start-BcsJob {
    <#
    .SYNOPSIS
    Creates a BITS transfer job and, unless -Asynchronous, runs it to completion.

    .DESCRIPTION
    Mirrors Start-BitsTransfer. Source and Destination pair one to one; downloads take URLs as
    Source and local paths as Destination (default: the current location, keeping the URL's file
    name), uploads the other way round (one file per job). Relative local paths are resolved
    against the current PowerShell location.

    By default the cmdlet is synchronous: it shows progress while the engine transfers, completes
    the job when every file is transferred (the files appear at their destinations) and returns
    the completed job; a failed job is reported as an error and stays for Resume-BcsJob or
    Remove-BcsJob. Ctrl+C cancels the job. With -Asynchronous (or -Suspended) it returns the job at
    once; use Wait-BcsJob and Complete-BcsJob later. The job lives in the engine, so it survives
    the PowerShell session and engine restarts.

    .PARAMETER Source
    URLs to download, or the local file to upload.

    .PARAMETER Destination
    Local paths (downloads; a directory keeps the URL's file name) or the upload URL.

    .PARAMETER TransferType
    Download (default), Upload or UploadReply.

    .PARAMETER ReplyFileName
    UploadReply jobs: where the reply goes.

    .PARAMETER DisplayName
    The job's display name (at most 256 characters; default 'BITS Transfer').

    .PARAMETER Description
    The job's description (at most 1024 characters).

    .PARAMETER Priority
    Foreground (default, as Start-BitsTransfer), High, Normal or Low.

    .PARAMETER Asynchronous
    Return the job at once instead of waiting for it and completing it.

    .PARAMETER Suspended
    Create the job suspended; Resume-BcsJob starts it. Implies -Asynchronous.

    .PARAMETER Credential
    Credentials for the server; the password is handed to the engine over the local pipe.

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
    Seconds to wait after a transient error before retrying (BITS default 600, at least 5).

    .PARAMETER RetryTimeout
    Seconds without progress after which a transient error becomes fatal (BITS default 1209600).

    .PARAMETER MaxDownloadTime
    Seconds the job may take in all before it fails (BITS default 7776000).

    .PARAMETER CustomHeaders
    Extra request headers, 'Name: value'.

    .PARAMETER SecurityFlags
    BITS security flags (redirect policy, certificate checks).

    .PARAMETER CertificateAuthorityFile
    PEM file of CA certificates that verify HTTPS servers (default: the system store).

    .PARAMETER ClientCertificateFile
    PEM file holding the client certificate and its key for HTTPS.

    .PARAMETER BandwidthLimit
    Bytes per second for this job; 0 = unlimited.

    .PARAMETER Dynamic
    Dynamic content: download without size or Range support (restarts from 0 when interrupted).

    .EXAMPLE
    Start-BcsJob -Source 'http://server:8080/Demo/hello.txt' -Destination C:\Temp\

    Downloads the file with a progress bar and returns the completed job.

    .EXAMPLE
    $job = Start-BcsJob -Source $urls -Destination $paths -Asynchronous -Priority Low -DisplayName 'Nightly'
    $job | Wait-BcsJob | Complete-BcsJob

    Starts a background job for several files, waits for it later and completes it.

    .EXAMPLE
    Start-BcsJob -Source 'https://server/Secure/report.pdf' -Credential (Get-Credential) -Authentication NTLM

    .OUTPUTS
    Bcs.Job
    #>
    [CmdletBinding(SupportsShouldProcess, ConfirmImpact = 'Medium')]
    [OutputType('Bcs.Job')]
    param(
        [Parameter(Mandatory, Position = 0, ValueFromPipelineByPropertyName)]
        [string[]]$Source,

        [Parameter(Position = 1, ValueFromPipelineByPropertyName)]
        [string[]]$Destination,

        [string[]]$Sha256,

        [ValidateSet('Download', 'Upload', 'UploadReply')]
        [string]$TransferType = 'Download',

        [Parameter()]
        [string]$ReplyFileName,

        [Parameter()]
        [ValidateLength(1, 256)]
        [string]$DisplayName = 'BITS Transfer',

        [Parameter()]
        [ValidateLength(0, 1024)]
        [string]$Description,

        [ValidateSet('Foreground', 'High', 'Normal', 'Low')]
        [string]$Priority = 'Foreground',

        [Parameter()]
        [switch]$Asynchronous,

        [switch]$Suspended,

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

    process {
        $params = @{
            displayName = $DisplayName
            type        = $TransferType
            priority    = $Priority
            suspended   = $Suspended.IsPresent
            files       = @(Resolve-BcsJobFile -Cmdlet $PSCmdlet -Source $Source -Destination $Destination -TransferType $TransferType -Sha256 $Sha256)
        }
        if ($PSBoundParameters.ContainsKey('ReplyFileName')) {
            $params['replyFileName'] = [string]$PSCmdlet.GetUnresolvedProviderPathFromPSPath($ReplyFileName)
        }
        if ($PSBoundParameters.ContainsKey('Description')) {
            $params['description'] = $Description
        }
        $credentials = @()
        if ($PSBoundParameters.ContainsKey('Credential')) {
            $credentials += ConvertTo-BcsCredential -Credential $Credential -Scheme $Authentication -Target 'Server'
        }
        if ($PSBoundParameters.ContainsKey('ProxyCredential')) {
            $credentials += ConvertTo-BcsCredential -Credential $ProxyCredential -Scheme $ProxyAuthentication -Target 'Proxy'
        }
        if ($credentials.Count -gt 0) {
            $params['credentials'] = $credentials
        }
        if ($PSBoundParameters.ContainsKey('ProxyUsage')) {
            $params['proxyUsage'] = $ProxyUsage
        }
        if ($PSBoundParameters.ContainsKey('ProxyList')) {
            $params['proxyList'] = $ProxyList
        }
        if ($PSBoundParameters.ContainsKey('ProxyBypass')) {
            $params['proxyBypass'] = $ProxyBypass
        }
        if ($PSBoundParameters.ContainsKey('RetryInterval')) {
            $params['minimumRetryDelay'] = $RetryInterval
        }
        if ($PSBoundParameters.ContainsKey('RetryTimeout')) {
            $params['noProgressTimeout'] = $RetryTimeout
        }
        if ($PSBoundParameters.ContainsKey('MaxDownloadTime')) {
            $params['maxDownloadTime'] = $MaxDownloadTime
        }
        if ($PSBoundParameters.ContainsKey('CustomHeaders')) {
            $params['customHeaders'] = $CustomHeaders
        }
        if ($PSBoundParameters.ContainsKey('SecurityFlags')) {
            $params['securityFlags'] = $SecurityFlags
        }
        if ($PSBoundParameters.ContainsKey('CertificateAuthorityFile')) {
            $params['caBundle'] = [string]$PSCmdlet.GetUnresolvedProviderPathFromPSPath($CertificateAuthorityFile)
        }
        if ($PSBoundParameters.ContainsKey('ClientCertificateFile')) {
            $params['clientCertificate'] = [string]$PSCmdlet.GetUnresolvedProviderPathFromPSPath($ClientCertificateFile)
        }
        if ($PSBoundParameters.ContainsKey('BandwidthLimit')) {
            $params['bandwidthLimit'] = $BandwidthLimit
        }
        if ($PSBoundParameters.ContainsKey('Dynamic')) {
            $params['dynamic'] = $Dynamic.IsPresent
        }
        $what = "$TransferType of $($Source.Count) file(s): $($Source -join ', ')"
        if ($PSCmdlet.ShouldProcess($what, "Start BITS job '$DisplayName'")) {
            $job = Invoke-BcsRpc -Cmdlet $PSCmdlet -Method 'job.create' -Params $params
            if ($null -eq $job) {
                return
            }
            if ($Asynchronous -or $Suspended) {
                return ConvertTo-BcsObject -InputObject $job -TypeName 'Bcs.Job'
            }
            Complete-BcsJobTransfer -Cmdlet $PSCmdlet -JobId ([string]$job.jobId) | ConvertTo-BcsObject -TypeName 'Bcs.Job'
        }
    }
}
