function Get-BcsUrlGroup {
    <#
    .SYNOPSIS
    Gets URL groups with their settings, URLs and counters.

    .DESCRIPTION
    Without -UrlGroup returns every URL group (urlgroup.list); with it, the named groups
    (urlgroup.get), writing an error for each one that does not exist.

    .PARAMETER UrlGroup
    URL prefixes of the groups to get, for example http://+:8080/Demo/.

    .EXAMPLE
    Get-BcsUrlGroup

    .EXAMPLE
    Get-BcsUrlGroup -UrlGroup 'http://+:8080/Demo/' | Get-BcsUrl

    Lists the URLs of the Demo group.

    .OUTPUTS
    Bcs.UrlGroup
    #>
    [CmdletBinding()]
    [OutputType('Bcs.UrlGroup')]
    param(
        [Parameter(Position = 0, ValueFromPipelineByPropertyName)]
        [string[]]$UrlGroup
    )

    process {
        if (-not $PSBoundParameters.ContainsKey('UrlGroup')) {
            Invoke-BcsRpc -Cmdlet $PSCmdlet -Method 'urlgroup.list' | ConvertTo-BcsObject -TypeName 'Bcs.UrlGroup'
            return
        }
        foreach ($group in $UrlGroup) {
            Invoke-BcsRpc -Cmdlet $PSCmdlet -Method 'urlgroup.get' -Params @{ urlGroup = [string]$group } | ConvertTo-BcsObject -TypeName 'Bcs.UrlGroup'
        }
    }
}
