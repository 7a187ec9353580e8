function Test-BcsPipe {
    <#
    .SYNOPSIS
    Tells whether something accepts connections on the engine's pipe.

    .DESCRIPTION
    Connects and disconnects without sending a request; used by Start-BcsServer and
    Stop-BcsServer to wait for the engine to come up or go away. A pipe served by another user
    (Connect-BcsPipe refuses it) does not count.

    .PARAMETER PipeName
    The pipe name (default: the module's current pipe name).

    .PARAMETER TimeoutMilliseconds
    How long to wait for the pipe.

    .EXAMPLE
    Test-BcsPipe -PipeName 'BitsCompactServer'

    .OUTPUTS
    System.Boolean
    #>
    [CmdletBinding()]
    [OutputType([bool])]
    param(
        [string]$PipeName = (Get-BcsPipeName),

        [Parameter()]
        [int]$TimeoutMilliseconds = 200
    )

    try {
        $pipe = Connect-BcsPipe -PipeName $PipeName -TimeoutMilliseconds $TimeoutMilliseconds
        $pipe.Dispose()
        $true
    }
    catch {
        $false
    }
}
