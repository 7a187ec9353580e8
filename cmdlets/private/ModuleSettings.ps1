# Module-scoped settings of BitsCompactServer (dot-sourced first by BitsCompactServer.psm1).
# PipeName: the engine's pipe; $null means $env:BCS_PIPE_NAME, else 'BitsCompactServer'.
#           Start-BcsServer -PipeName sets it, so later cmdlets talk to the engine it started.
# ConnectTimeoutMilliseconds: how long Invoke-BcsRpc waits for the pipe before it reports that no
#           engine is running.
$script:BcsSettings = @{
    PipeName                   = $null
    ConnectTimeoutMilliseconds = 2000
}
$script:BcsRequestId = 0
