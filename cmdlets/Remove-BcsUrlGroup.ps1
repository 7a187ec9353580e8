function Remove-BcsUrlGroup {
    <#
    .SYNOPSIS
    Deletes a URL group and its URLs.

    .DESCRIPTION
    The group's URLs stop being served (urlgroup.delete); its port closes when no other group
    uses it. Published files are not touched.

    .PARAMETER UrlGroup
    The URL prefix of the group, for example http://+:8080/Demo/.

    .EXAMPLE
    Remove-BcsUrlGroup -UrlGroup 'http://+:8080/Demo/'

    .EXAMPLE
    Get-BcsUrlGroup | Remove-BcsUrlGroup -Confirm:$false

    Deletes every URL group without asking.

    .OUTPUTS
    None
    #>
    [CmdletBinding(SupportsShouldProcess, ConfirmImpact = 'High')]
    [OutputType([void])]
    param(
        [Parameter(Mandatory, Position = 0, ValueFromPipelineByPropertyName)]
        [string]$UrlGroup
    )

    process {
        $params = @{ urlGroup = $UrlGroup }
        if ($PSCmdlet.ShouldProcess($UrlGroup, 'Delete URL group and its URLs')) {
            $null = Invoke-BcsRpc -Cmdlet $PSCmdlet -Method 'urlgroup.delete' -Params $params
        }
    }
}
