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

        [switch]$DirectoryListing
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
        if ($PSCmdlet.ShouldProcess($UrlGroup, 'Create URL group')) {
            Invoke-BcsRpc -Cmdlet $PSCmdlet -Method 'urlgroup.create' -Params $params | ConvertTo-BcsObject -TypeName 'Bcs.UrlGroup'
        }
    }
}
