function Set-BcsUrlGroup {
    <#
    .SYNOPSIS
    Changes settings of a URL group.

    .DESCRIPTION
    Only the settings given change (urlgroup.set). They take effect at once, also for transfers
    already running, and persist across engine restarts.

    .PARAMETER UrlGroup
    The URL prefix of the group, for example http://+:8080/Demo/.

    .PARAMETER ConnectionLimit
    Simultaneous transfers served for the group; 0 = unlimited.

    .PARAMETER BandwidthLimit
    Bytes per second shared by all transfers of the group; 0 = unlimited, else at least 1024.

    .PARAMETER Authentication
    Authentication schemes the group requires: Negotiate, NTLM, Basic, ClientCertificate (a request
    without credentials gets 401 offering them in this order); an empty list makes the group
    anonymous. Basic needs an https group. ClientCertificate needs an https group whose port asks for
    certificates (Set-BcsSslCertificate -ClientCertificate Accept or Require).

    .PARAMETER UploadEnabled
    Whether the group accepts BITS uploads (BITS_POST).

    .PARAMETER DirectoryListing
    Whether directory URLs list their files.

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
    Set-BcsUrlGroup -UrlGroup 'http://+:8080/Demo/' -BandwidthLimit 512KB

    .EXAMPLE
    Get-BcsUrlGroup | Set-BcsUrlGroup -ConnectionLimit 0

    Removes the connection limit of every group.

    .EXAMPLE
    Set-BcsUrlGroup -UrlGroup 'http://+:8080/Demo/' -UploadEnabled $true -MaxUploadSize 1GB -AllowOverwrites $false

    Accepts BITS uploads of files up to 1 GiB to names below the group's directory URLs, never
    replacing an existing file.

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

        [AllowEmptyCollection()]
        [ValidateSet('Negotiate', 'NTLM', 'Basic', 'ClientCertificate')]
        [string[]]$Authentication,

        [bool]$UploadEnabled,

        [bool]$DirectoryListing,

        [bool]$AllowOverwrites,

        [ValidateRange(0, [long]::MaxValue)]
        [long]$MaxUploadSize,

        [ValidateRange(1, 31536000)]
        [int]$SessionTimeout,

        [ValidateRange(0, 1000000)]
        [int]$MaxSessionsPerUser,

        [AllowEmptyString()]
        [ValidateLength(0, 300)]
        [string]$HostId,

        [ValidateRange(0, 4294967295)]
        [long]$HostIdFallbackTimeout,

        [AllowEmptyString()]
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
            $params['uploadEnabled'] = $UploadEnabled
        }
        if ($PSBoundParameters.ContainsKey('DirectoryListing')) {
            $params['directoryListing'] = $DirectoryListing
        }
        if ($PSBoundParameters.ContainsKey('AllowOverwrites')) {
            $params['allowOverwrites'] = $AllowOverwrites
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
        if ($PSCmdlet.ShouldProcess($UrlGroup, 'Change URL group settings')) {
            Invoke-BcsRpc -Cmdlet $PSCmdlet -Method 'urlgroup.set' -Params $params | ConvertTo-BcsObject -TypeName 'Bcs.UrlGroup'
        }
    }
}
