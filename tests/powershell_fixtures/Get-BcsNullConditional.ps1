function Get-BcsNullConditional {
    <#
    .SYNOPSIS
    PowerShell 7.1 null-conditional operators: tree-sitter-pwsh cannot parse them, so the parse check fails (lines 12, 13).
    #>
    [CmdletBinding()]
    [OutputType([string])]
    param(
        [psobject[]]$Job
    )

    $state = ${Job}?[0]
    $name = ${state}?.DisplayName
    $name
}
