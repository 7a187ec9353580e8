function Remove-BcsUrl {
    <#
    .SYNOPSIS
    Unpublishes a URL of a URL group.

    .DESCRIPTION
    The URL stops being served at once (url.delete); transfers already running finish. The
    published file is not touched.

    .PARAMETER UrlGroup
    The URL prefix of the group, for example http://+:8080/Demo/.

    .PARAMETER UrlSuffix
    The URL path below the group prefix, for example hello.txt.

    .EXAMPLE
    Remove-BcsUrl -UrlGroup 'http://+:8080/Demo/' -UrlSuffix 'hello.txt'

    .EXAMPLE
    Get-BcsUrl -UrlGroup 'http://+:8080/Demo/' | Remove-BcsUrl -Confirm:$false

    Unpublishes every URL of the group without asking.

    .OUTPUTS
    None
    #>
    [CmdletBinding(SupportsShouldProcess, ConfirmImpact = 'High')]
    [OutputType([void])]
    param(
        [Parameter(Mandatory, Position = 0, ValueFromPipelineByPropertyName)]
        [string]$UrlGroup,

        [Parameter(Mandatory, Position = 1, ValueFromPipelineByPropertyName)]
        [string]$UrlSuffix
    )

    process {
        $params = @{
            urlGroup  = $UrlGroup
            urlSuffix = $UrlSuffix
        }
        if ($PSCmdlet.ShouldProcess("$UrlGroup$UrlSuffix", 'Unpublish URL')) {
            $null = Invoke-BcsRpc -Cmdlet $PSCmdlet -Method 'url.delete' -Params $params
        }
    }
}
