function ConvertTo-BcsDirectoryArgument {
    <#
    .SYNOPSIS
    Turns a directory path into a full path that survives native argument passing in every edition.

    .DESCRIPTION
    Resolves the path against the current PowerShell location, normalises it with
    [System.IO.Path]::GetFullPath and trims trailing separators.

    Why: Windows PowerShell 5.1 (and PowerShell 7 before 7.3) passes native arguments by wrapping
    an argument that contains spaces in double quotes without doubling a trailing backslash, so
    'C:\My State\' reaches python.exe as "C:\My State\" and the C runtime reads \" as a literal
    quote: the directory and every argument after it are garbled. A path that ends in no
    separator is passed intact by every edition. A root keeps its meaning through a trailing
    '.': C:\ becomes C:\. and / becomes /.

    .PARAMETER Cmdlet
    The calling cmdlet ($PSCmdlet), which resolves PowerShell paths (relative, ~, PSDrives).

    .PARAMETER Path
    The directory as the user gave it.

    .EXAMPLE
    ConvertTo-BcsDirectoryArgument -Cmdlet $PSCmdlet -Path 'D:\Bcs State\'

    Returns D:\Bcs State

    .OUTPUTS
    System.String
    #>
    [CmdletBinding()]
    [OutputType([string])]
    param(
        [Parameter(Mandatory)]
        [System.Management.Automation.PSCmdlet]$Cmdlet,

        [Parameter(Mandatory)]
        [string]$Path
    )

    $full = [System.IO.Path]::GetFullPath($Cmdlet.GetUnresolvedProviderPathFromPSPath($Path))
    $separators = [char[]]@([System.IO.Path]::DirectorySeparatorChar, [System.IO.Path]::AltDirectorySeparatorChar)
    $trimmed = $full.TrimEnd($separators)
    if ($trimmed.Length -eq 0) {
        # The Unix root '/'.
        return [System.IO.Path]::DirectorySeparatorChar + '.'
    }
    if ($trimmed.EndsWith(':')) {
        # A drive root: 'C:' alone would mean the current directory of drive C.
        return $trimmed + [System.IO.Path]::DirectorySeparatorChar + '.'
    }
    $trimmed
}
