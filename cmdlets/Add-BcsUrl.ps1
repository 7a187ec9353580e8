function Add-BcsUrl {
    <#
    .SYNOPSIS
    Publishes a file or a directory as a URL of a URL group.

    .DESCRIPTION
    The URL is the group prefix followed by -UrlSuffix (url.create); requests for it are served
    from -SourcePath. A relative -SourcePath is resolved against the current location.
    -Sddl restricts who may read the URL (for example D:(A;;GR;;;AU) = authenticated users).

    .PARAMETER UrlGroup
    The URL prefix of the group, for example http://+:8080/Demo/.

    .PARAMETER UrlSuffix
    The URL path below the group prefix, for example hello.txt or files/.

    .PARAMETER SourcePath
    The file or directory to publish; it must exist and be readable by the engine.

    .PARAMETER Sddl
    SDDL string that authorises access to the URL; empty = anyone the group authenticates.

    .PARAMETER Sha256
    Pins the SHA-256 of the file (or of each file below a directory, at its first request) and serves
    it as the Repr-Digest header. A file whose content changes afterwards is refused (409) until the
    URL is published again (Remove-BcsUrl, then Add-BcsUrl).

    .EXAMPLE
    Add-BcsUrl -UrlGroup 'http://+:8080/Demo/' -UrlSuffix 'hello.txt' -SourcePath C:\Share\hello.txt

    .EXAMPLE
    Get-BcsUrlGroup -UrlGroup 'http://+:8080/Demo/' | Add-BcsUrl -UrlSuffix 'files/' -SourcePath ./files

    Publishes a directory.

    .EXAMPLE
    Add-BcsUrl -UrlGroup 'http://+:8080/Demo/' -UrlSuffix 'setup.iso' -SourcePath ./setup.iso -Sha256

    Publishes a file under its pinned SHA-256 (shown as Sha256Digest once computed).

    .OUTPUTS
    Bcs.Url
    #>
    [CmdletBinding(SupportsShouldProcess, ConfirmImpact = 'Medium')]
    [OutputType('Bcs.Url')]
    param(
        [Parameter(Mandatory, Position = 0, ValueFromPipelineByPropertyName)]
        [string]$UrlGroup,

        [Parameter(Mandatory, Position = 1, ValueFromPipelineByPropertyName)]
        [string]$UrlSuffix,

        [Parameter(Mandatory, Position = 2, ValueFromPipelineByPropertyName)]
        [Alias('FullName')]
        [string]$SourcePath,

        [Parameter(ValueFromPipelineByPropertyName)]
        [string]$Sddl,

        [switch]$Sha256
    )

    process {
        $resolvedPath = $PSCmdlet.GetUnresolvedProviderPathFromPSPath($SourcePath)
        $params = @{
            urlGroup   = $UrlGroup
            urlSuffix  = $UrlSuffix
            sourcePath = [string]$resolvedPath
        }
        if ($PSBoundParameters.ContainsKey('Sddl')) {
            $params['sddl'] = $Sddl
        }
        if ($PSBoundParameters.ContainsKey('Sha256')) {
            $params['sha256'] = $Sha256.IsPresent
        }
        if ($PSCmdlet.ShouldProcess("$UrlGroup$UrlSuffix", "Publish $resolvedPath")) {
            Invoke-BcsRpc -Cmdlet $PSCmdlet -Method 'url.create' -Params $params | ConvertTo-BcsObject -TypeName 'Bcs.Url' -DefaultProperty @{ UrlGroup = $UrlGroup }
        }
    }
}
