function Test-BcsWindows {
    <#
    .SYNOPSIS
    Tells whether PowerShell runs on Windows (works in Windows PowerShell 5.1, where $IsWindows does not exist).

    .DESCRIPTION
    Start-BcsServer uses it to pick the Python command and to hide the engine's console window.

    .EXAMPLE
    Test-BcsWindows

    .OUTPUTS
    System.Boolean
    #>
    [CmdletBinding()]
    [OutputType([bool])]
    param()

    [System.Environment]::OSVersion.Platform -eq [System.PlatformID]::Win32NT
}
