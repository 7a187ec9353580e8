function New-BcsUrlGroup {
    <#
    .SYNOPSIS
    Creates a URL group and starts listening on its port.

    .DESCRIPTION
    A URL group is an HTTP.SYS-style URL prefix (scheme://host:port/name/) whose URLs share
    authentication, a connection limit and a bandwidth limit (urlgroup.create). Host '+' (strong
    wildcard) matches every host name, '*' (weak wildcard) only those no other group claims.
    The settings persist across engine restarts.

    .PARAMETER UrlGroup
    The URL prefix, for example http://+:8080/Demo/.

    .PARAMETER ConnectionLimit
    Simultaneous transfers served for the group; 0 = unlimited (default 3, as the original).

    .PARAMETER BandwidthLimit
    Bytes per second shared by all transfers of the group; 0 = unlimited, else at least 1024.

    .PARAMETER Authentication
    Authentication schemes the group requires: Negotiate, NTLM, Basic, ClientCertificate; a request
    without credentials gets 401 offering them in this order. None = anonymous. Basic (user name and
    password checked against the NTLM accounts, see Set-BcsAuthentication) needs an https group.
    ClientCertificate needs an https group whose port asks for certificates
    (Set-BcsSslCertificate -ClientCertificate Accept or Require); the certificate's UPN, else its
    subject CN, is the identity.

    .PARAMETER UploadEnabled
    Accept BITS uploads (BITS_POST) on the group's URLs.

    .PARAMETER DirectoryListing
    List the files of directory URLs.

    .PARAMETER AllowOverwrites
    Whether a BITS upload may replace an existing file (default: no, the upload gets 403).

    .PARAMETER MaxUploadSize
    Largest file a BITS upload may send, in bytes; 0 = no limit but the disk (the default).

    .PARAMETER SessionTimeout
    Seconds an upload session may go without progress before it and its data are deleted
    (default 1209600, 14 days, as IIS).

    .PARAMETER MaxSessionsPerUser
    Active upload sessions of one user in the group; 0 = unlimited (default 50). Until
    authentication is enforced, every anonymous client counts as the same user.

    .PARAMETER HostId
    Host name or address the BITS client sends the rest of an upload session to (BITS-Host-Id),
    for server farms without shared storage; an empty string removes it.

    .PARAMETER HostIdFallbackTimeout
    Seconds without progress after which the client goes back to the original host (default 86400).

    .PARAMETER NotificationUrl
    Absolute http:// URL of a server application told of each upload (upload-reply); an empty
    string removes it.

    .PARAMETER NotificationType
    How the server application gets an upload: None (the file is placed at its URL), ByReference
    (its path) or ByValue (its bytes). The application's answer is the reply a BITS upload-reply
    job gets; the file is placed only when the application asks for it.

    .EXAMPLE
    New-BcsUrlGroup -UrlGroup 'http://+:8080/Demo/'

    .EXAMPLE
    New-BcsUrlGroup -UrlGroup 'https://+:8443/Secure/' -Authentication Negotiate, NTLM -ConnectionLimit 10 -BandwidthLimit 1MB

    Creates an HTTPS group that requires Windows authentication and shares 1 MiB/s among 10 transfers.

    .OUTPUTS
    Bcs.UrlGroup
    #>
    [CmdletBinding(SupportsShouldProcess, ConfirmImpact = 'Medium')]
    [OutputType('Bcs.UrlGroup')]
    param(
        [Parameter(Mandatory, Position = 0, ValueFromPipelineByPropertyName)]
        [string]$UrlGroup,

        [ValidateRange(0, 1000000)]
        [int]$ConnectionLimit,

        [ValidateRange(0, [long]::MaxValue)]
        [long]$BandwidthLimit,

        [ValidateSet('Negotiate', 'NTLM', 'Basic', 'ClientCertificate')]
        [string[]]$Authentication,

        [switch]$UploadEnabled,

        [switch]$DirectoryListing,

        [switch]$AllowOverwrites,

        [ValidateRange(0, [long]::MaxValue)]
        [long]$MaxUploadSize,

        [ValidateRange(1, 31536000)]
        [int]$SessionTimeout,

        [ValidateRange(0, 1000000)]
        [int]$MaxSessionsPerUser,

        [ValidateLength(0, 300)]
        [string]$HostId,

        [ValidateRange(0, 4294967295)]
        [long]$HostIdFallbackTimeout,

        [ValidateLength(0, 2200)]
        [string]$NotificationUrl,

        [ValidateSet('None', 'ByReference', 'ByValue')]
        [string]$NotificationType
    )

    process {
        $params = @{ urlGroup = $UrlGroup }
        if ($PSBoundParameters.ContainsKey('ConnectionLimit')) {
            $params['connectionLimit'] = $ConnectionLimit
        }
        if ($PSBoundParameters.ContainsKey('BandwidthLimit')) {
            $params['bandwidthLimit'] = $BandwidthLimit
        }
        if ($PSBoundParameters.ContainsKey('Authentication')) {
            $params['authentication'] = $Authentication
        }
        if ($PSBoundParameters.ContainsKey('UploadEnabled')) {
            $params['uploadEnabled'] = $UploadEnabled.IsPresent
        }
        if ($PSBoundParameters.ContainsKey('DirectoryListing')) {
            $params['directoryListing'] = $DirectoryListing.IsPresent
        }
        if ($PSBoundParameters.ContainsKey('AllowOverwrites')) {
            $params['allowOverwrites'] = $AllowOverwrites.IsPresent
        }
        if ($PSBoundParameters.ContainsKey('MaxUploadSize')) {
            $params['maxUploadSize'] = $MaxUploadSize
        }
        if ($PSBoundParameters.ContainsKey('SessionTimeout')) {
            $params['sessionTimeout'] = $SessionTimeout
        }
        if ($PSBoundParameters.ContainsKey('MaxSessionsPerUser')) {
            $params['maxSessionsPerUser'] = $MaxSessionsPerUser
        }
        if ($PSBoundParameters.ContainsKey('HostId')) {
            $params['hostId'] = $HostId
        }
        if ($PSBoundParameters.ContainsKey('HostIdFallbackTimeout')) {
            $params['hostIdFallbackTimeout'] = $HostIdFallbackTimeout
        }
        if ($PSBoundParameters.ContainsKey('NotificationUrl')) {
            $params['notificationUrl'] = $NotificationUrl
        }
        if ($PSBoundParameters.ContainsKey('NotificationType')) {
            $params['notificationType'] = $NotificationType
        }
        if ($PSCmdlet.ShouldProcess($UrlGroup, 'Create URL group')) {
            Invoke-BcsRpc -Cmdlet $PSCmdlet -Method 'urlgroup.create' -Params $params | ConvertTo-BcsObject -TypeName 'Bcs.UrlGroup'
        }
    }
}
