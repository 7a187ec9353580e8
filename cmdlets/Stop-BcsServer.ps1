function Stop-BcsServer {
    <#
    .SYNOPSIS
    Stops the BITS Compact Server engine and waits until its process has exited.

    .DESCRIPTION
    Reads the engine's process id (server.status), asks the engine to stop cleanly (server.stop):
    it answers first, then closes its listeners, saves its jobs, closes jobs.db and the pipe and
    releases the state directory. The cmdlet returns when the engine process has exited, so the
    state directory can be reused or deleted at once; when the process is still running after
    -Timeout seconds it writes a Bcs.Server.StopTimeout error.

    .PARAMETER Timeout
    Seconds to wait for the engine process to exit (default 30).

    .EXAMPLE
    Stop-BcsServer

    .EXAMPLE
    Stop-BcsServer -Confirm:$false

    Stops the engine without asking.

    .OUTPUTS
    None
    #>
    [CmdletBinding(SupportsShouldProcess, ConfirmImpact = 'High')]
    [OutputType([void])]
    param(
        [ValidateRange(1, 3600)]
        [int]$Timeout = 30
    )

    $pipeName = Get-BcsPipeName
    $answer = $null
    $enginePid = 0
    if ($PSCmdlet.ShouldProcess($pipeName, 'Stop the BITS Compact Server engine')) {
        # The pid is read before the stop: the pipe closes before the engine has closed its
        # listeners, jobs.db and the state-directory lock, so only the process exit means done.
        $status = Invoke-BcsRpc -Cmdlet $PSCmdlet -Method 'server.status'
        if ($null -ne $status) {
            $enginePid = [int]$status.pid
            $answer = Invoke-BcsRpc -Cmdlet $PSCmdlet -Method 'server.stop'
        }
    }
    if ($null -eq $answer) {
        return
    }
    $deadline = [System.DateTime]::UtcNow.AddSeconds($Timeout)
    $process = $null
    if ($enginePid -gt 0) {
        $process = Get-Process -Id $enginePid -ErrorAction SilentlyContinue
    }
    # $exited stays $null when the process cannot be waited for; then the pipe tells.
    $exited = $null
    if ($null -ne $process) {
        $stat = "/proc/$enginePid/stat"
        try {
            $exited = $false
            while (-not $exited -and [System.DateTime]::UtcNow -lt $deadline) {
                $exited = $process.WaitForExit(200)
                if (-not $exited -and (Test-Path -LiteralPath $stat)) {
                    # An exited engine whose parent has not reaped it yet (a zombie, state Z in
                    # Linux /proc) is done, but .NET, which polls kill(pid, 0) on Unix, still sees it.
                    $state = (Get-Content -LiteralPath $stat -Raw -ErrorAction SilentlyContinue) -replace '^.*\)\s+', ''
                    $exited = $state.StartsWith('Z')
                }
            }
        }
        catch {
            # No right to wait on the process (an engine of another user, on Windows).
            Write-Verbose -Message "Cannot wait for process ${enginePid}: $($_.Exception.Message)"
            $exited = $null
        }
        finally {
            $process.Dispose()
        }
    }
    if ($null -ne $exited) {
        if (-not $exited) {
            $record = New-BcsErrorRecord -Message "The engine (process $enginePid, pipe '$pipeName') is still running after $Timeout s." -ErrorId 'Bcs.Server.StopTimeout' -Category 'OperationTimeout' -TargetObject $pipeName -HResult '0x800705B4'
            $PSCmdlet.WriteError($record)
        }
        return
    }
    # No process to wait for (already gone, not ours to wait on, or an engine that did not
    # report its pid): wait for the pipe to close.
    while (Test-BcsPipe -PipeName $pipeName -TimeoutMilliseconds 100) {
        if ([System.DateTime]::UtcNow -gt $deadline) {
            $record = New-BcsErrorRecord -Message "The engine on pipe '$pipeName' still answers after $Timeout s." -ErrorId 'Bcs.Server.StopTimeout' -Category 'OperationTimeout' -TargetObject $pipeName -HResult '0x800705B4'
            $PSCmdlet.WriteError($record)
            return
        }
        Start-Sleep -Milliseconds 100
    }
}
