function Unregister-BcsScheduledTask {
    <#
    .SYNOPSIS
    Removes the scheduled task that Register-BcsScheduledTask created.

    .DESCRIPTION
    Deletes the task from Task Scheduler, so the engine no longer starts at startup. An engine
    that the task started keeps running: stop it with Stop-BcsServer. The state directory
    (configuration, jobs) is not touched.

    Windows only. Elsewhere it stops with Bcs.ScheduledTask.NotSupported, whose message says to
    use 'bcs service install --systemd' (and 'bcs service uninstall' to remove it). It calls no
    engine method.

    .PARAMETER TaskName
    The task's name (default BitsCompactServer). Binds from the pipeline by property name, so the
    output of Register-BcsScheduledTask or Get-ScheduledTask can be piped.

    .PARAMETER TaskPath
    The task's folder in Task Scheduler (default \).

    .EXAMPLE
    Unregister-BcsScheduledTask

    Asks, then removes the task BitsCompactServer.

    .EXAMPLE
    Get-ScheduledTask -TaskName 'BcsLab' | Unregister-BcsScheduledTask -Confirm:$false

    Removes the task BcsLab (found in any folder) without asking.

    .OUTPUTS
    None
    #>
    [CmdletBinding(SupportsShouldProcess, ConfirmImpact = 'High')]
    [OutputType([void])]
    param(
        [Parameter(Position = 0, ValueFromPipelineByPropertyName)]
        [ValidateNotNullOrEmpty()]
        [string]$TaskName = 'BitsCompactServer',

        [Parameter(ValueFromPipelineByPropertyName)]
        [ValidatePattern('^\\')]
        [string]$TaskPath = '\'
    )

    process {
        Assert-BcsScheduledTaskSupported -Cmdlet $PSCmdlet -TaskName $TaskName
        $task = Get-ScheduledTask -TaskName $TaskName -TaskPath $TaskPath -ErrorAction SilentlyContinue
        if ($null -eq $task) {
            $record = New-BcsErrorRecord -Message "There is no scheduled task '$TaskPath$TaskName'." -ErrorId 'Bcs.ScheduledTask.NotFound' -Category 'ObjectNotFound' -TargetObject $TaskName -HResult '0x80070002'
            $PSCmdlet.WriteError($record)
            return
        }
        if ($PSCmdlet.ShouldProcess($TaskName, "Unregister the scheduled task '$TaskPath$TaskName' (a running engine keeps running; Stop-BcsServer stops it)")) {
            try {
                Unregister-ScheduledTask -TaskName $TaskName -TaskPath $TaskPath -Confirm:$false -ErrorAction Stop
            }
            catch {
                $record = New-BcsErrorRecord -Message "Cannot unregister the scheduled task '$TaskPath$TaskName': $($_.Exception.Message)" -ErrorId 'Bcs.ScheduledTask.UnregisterFailed' -Category 'InvalidOperation' -TargetObject $TaskName -HResult '0x80004005'
                $PSCmdlet.WriteError($record)
            }
        }
    }
}
