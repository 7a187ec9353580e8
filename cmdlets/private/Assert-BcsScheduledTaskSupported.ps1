function Assert-BcsScheduledTaskSupported {
    <#
    .SYNOPSIS
    Stops the calling cmdlet with a clear error where Windows scheduled tasks do not exist.

    .DESCRIPTION
    Register-BcsScheduledTask and Unregister-BcsScheduledTask need Windows and its ScheduledTasks
    module. Elsewhere they stop with the terminating error Bcs.ScheduledTask.NotSupported
    (NotImplemented, ERROR_NOT_SUPPORTED 0x80070032), whose message points to the systemd route:
    'bcs service install --systemd'.

    .PARAMETER Cmdlet
    The calling cmdlet ($PSCmdlet), which throws the error.

    .PARAMETER TaskName
    The task the caller was asked about (the error's target).

    .EXAMPLE
    Assert-BcsScheduledTaskSupported -Cmdlet $PSCmdlet -TaskName 'BitsCompactServer'

    .OUTPUTS
    None
    #>
    [CmdletBinding()]
    [OutputType([void])]
    param(
        [Parameter(Mandatory)]
        [System.Management.Automation.PSCmdlet]$Cmdlet,

        [Parameter(Mandatory)]
        [string]$TaskName
    )

    $command = $Cmdlet.MyInvocation.MyCommand.Name
    $reason = $null
    if (-not (Test-BcsWindows)) {
        $reason = 'scheduled tasks are a Windows feature'
    }
    elseif (-not (Get-Command -Name 'Register-ScheduledTask' -ErrorAction SilentlyContinue)) {
        $reason = 'the ScheduledTasks module is not available in this PowerShell'
    }
    if ($null -eq $reason) {
        return
    }
    $message = "$command is not supported on this platform: $reason. On Linux, run the engine at boot " +
    "as a systemd service instead: use 'bcs service install --systemd' (a hardened unit running " +
    "'python -m bcs serve'; see the README, section Deployment)."
    $record = New-BcsErrorRecord -Message $message -ErrorId 'Bcs.ScheduledTask.NotSupported' -Category 'NotImplemented' -TargetObject $TaskName -HResult '0x80070032' -RecommendedAction "Run 'bcs service install --systemd' as root."
    $Cmdlet.ThrowTerminatingError($record)
}
