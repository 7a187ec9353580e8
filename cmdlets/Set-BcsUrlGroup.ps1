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

    .EXAMPLE
    Set-BcsUrlGroup -UrlGroup 'http://+:8080/Demo/' -BandwidthLimit 512KB

    .EXAMPLE
    Get-BcsUrlGroup | Set-BcsUrlGroup -ConnectionLimit 0

    Removes the connection limit of every group.

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

        [bool]$DirectoryListing
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
        if ($PSCmdlet.ShouldProcess($UrlGroup, 'Change URL group settings')) {
            Invoke-BcsRpc -Cmdlet $PSCmdlet -Method 'urlgroup.set' -Params $params | ConvertTo-BcsObject -TypeName 'Bcs.UrlGroup'
        }
    }
}
