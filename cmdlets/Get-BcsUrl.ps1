function Get-BcsUrl {
    <#
    .SYNOPSIS
    Gets the URLs published in a URL group.

    .DESCRIPTION
    Lists the URLs of a group (url.list), optionally only those whose suffix matches a wildcard
    pattern. Pipe URL groups in to list the URLs of several groups.

    .PARAMETER UrlGroup
    The URL prefix of the group, for example http://+:8080/Demo/.

    .PARAMETER UrlSuffix
    Wildcard pattern on the URL suffix (default: every URL).

    .EXAMPLE
    Get-BcsUrl -UrlGroup 'http://+:8080/Demo/'

    .EXAMPLE
    Get-BcsUrlGroup | Get-BcsUrl -UrlSuffix '*.iso'

    Lists the ISO images published in any group.

    .OUTPUTS
    Bcs.Url
    #>
    [CmdletBinding()]
    [OutputType('Bcs.Url')]
    param(
        [Parameter(Mandatory, Position = 0, ValueFromPipelineByPropertyName)]
        [string]$UrlGroup,

        [Parameter(Position = 1, ValueFromPipelineByPropertyName)]
        [SupportsWildcards()]
        [string]$UrlSuffix = '*'
    )

    process {
        $params = @{ urlGroup = $UrlGroup }
        $urls = Invoke-BcsRpc -Cmdlet $PSCmdlet -Method 'url.list' -Params $params | ConvertTo-BcsObject -TypeName 'Bcs.Url' -DefaultProperty @{ UrlGroup = $UrlGroup }
        foreach ($url in $urls) {
            if ($url.UrlSuffix -like $UrlSuffix) {
                $url
            }
        }
    }
}
