function Stop-BcsServer {
    <#
    .SYNOPSIS
    Stops the BITS Compact Server engine.

    .DESCRIPTION
    Asks the engine to stop cleanly (server.stop): it answers first, then closes its listeners,
    saves its jobs and closes the pipe. The cmdlet waits until the pipe no longer answers.

    .PARAMETER Timeout
    Seconds to wait for the pipe to close (default 30).

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
    if ($PSCmdlet.ShouldProcess($pipeName, 'Stop the BITS Compact Server engine')) {
        $answer = Invoke-BcsRpc -Cmdlet $PSCmdlet -Method 'server.stop'
    }
    if ($null -eq $answer) {
        return
    }
    $deadline = [System.DateTime]::UtcNow.AddSeconds($Timeout)
    while (Test-BcsPipe -PipeName $pipeName -TimeoutMilliseconds 100) {
        if ([System.DateTime]::UtcNow -gt $deadline) {
            $record = New-BcsErrorRecord -Message "The engine on pipe '$pipeName' still answers after $Timeout s." -ErrorId 'Bcs.Server.StopTimeout' -Category 'OperationTimeout' -TargetObject $pipeName -HResult '0x800705B4'
            $PSCmdlet.WriteError($record)
            return
        }
        Start-Sleep -Milliseconds 100
    }
}
