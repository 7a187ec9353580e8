function Export-BcsConfiguration {
    <#
    .SYNOPSIS
    Exports the engine's configuration as config.yaml text.

    .DESCRIPTION
    Returns the whole configuration (server settings, client settings, URL groups and their URLs)
    as YAML text (config.export), or writes it to a file (UTF-8 without BOM) with -Path.
    Import-BcsConfiguration reads it back.

    .PARAMETER Path
    A file to write the YAML text to; without it the text is returned.

    .PARAMETER PassThru
    With -Path: return the file (System.IO.FileInfo) as well.

    .EXAMPLE
    Export-BcsConfiguration -Path ./bcs-config.yaml

    .EXAMPLE
    $yaml = Export-BcsConfiguration

    .OUTPUTS
    System.String
    #>
    [CmdletBinding(SupportsShouldProcess, ConfirmImpact = 'Medium')]
    [OutputType([string], [System.IO.FileInfo])]
    param(
        [Parameter(Position = 0)]
        [string]$Path,

        [switch]$PassThru
    )

    $export = Invoke-BcsRpc -Cmdlet $PSCmdlet -Method 'config.export'
    if ($null -eq $export) {
        return
    }
    if (-not $Path) {
        return [string]$export.yaml
    }
    $resolved = $PSCmdlet.GetUnresolvedProviderPathFromPSPath($Path)
    if ($PSCmdlet.ShouldProcess($resolved, 'Write the BITS Compact Server configuration')) {
        $encoding = New-Object -TypeName System.Text.UTF8Encoding -ArgumentList $false
        [System.IO.File]::WriteAllText($resolved, [string]$export.yaml, $encoding)
        if ($PassThru) {
            Get-Item -LiteralPath $resolved
        }
    }
}
