function Get-BcsPipeName {
    <#
    .SYNOPSIS
    Returns the name of the engine's management pipe.

    .DESCRIPTION
    The module setting (set by Start-BcsServer -PipeName) wins, then $env:BCS_PIPE_NAME, then the
    default 'BitsCompactServer', the same order the engine uses for --pipe-name.

    .EXAMPLE
    Get-BcsPipeName

    .OUTPUTS
    System.String
    #>
    [CmdletBinding()]
    [OutputType([string])]
    param()

    if ($script:BcsSettings.PipeName) {
        return [string]$script:BcsSettings.PipeName
    }
    if ($env:BCS_PIPE_NAME) {
        return [string]$env:BCS_PIPE_NAME
    }
    'BitsCompactServer'
}
