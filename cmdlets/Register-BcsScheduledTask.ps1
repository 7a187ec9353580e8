function Register-BcsScheduledTask {
    <#
    .SYNOPSIS
    Registers a Windows scheduled task that starts the BITS Compact Server engine at system startup.

    .DESCRIPTION
    Creates a task (ScheduledTasks module) whose action runs the engine in the foreground,
    'python -m bcs --pipe-name <PipeName> serve [--state-dir <StateDirectory>] [--no-demo]', with
    an at-startup trigger, under the chosen account: SYSTEM by default. The task has no execution
    time limit (Task Scheduler's default would stop the engine after 72 hours), may start on
    batteries, starts as soon as possible after a missed start, never runs twice at once and is
    restarted by Task Scheduler up to 3 times, a minute apart, when it fails.

    The engine is the task's process: Stop-BcsServer stops it cleanly and the task ends;
    Start-ScheduledTask (or -StartNow) starts it again. The Python path is resolved to a full
    path now, because the task does not run with this session's PATH.

    Accounts: SYSTEM, LOCAL SERVICE and NETWORK SERVICE run as service accounts (no password);
    a group managed service account (DOMAIN\name$) runs without a stored password; a user given
    with -Credential runs with its password (stored by Task Scheduler); a user given with -User
    alone runs as S4U (whether logged on or not, no stored password, but no network credentials:
    jobs cannot use that user's identity on the network). The cmdlets trust an engine run by
    SYSTEM or by their own user only, so manage an engine of another account as that account.

    Windows only. Elsewhere it stops with Bcs.ScheduledTask.NotSupported, whose message says to
    use 'bcs service install --systemd'. It calls no engine method.

    .PARAMETER PythonPath
    The Python interpreter that has the bcs package installed. Default: $env:BCS_PYTHON, else
    'python'. Resolved to its full path when the task is registered.

    .PARAMETER StateDirectory
    The engine's state directory. Default: the engine's default for the account
    (%ProgramData%\BitsCompactServer).

    .PARAMETER PipeName
    The management pipe name the engine listens on. Default: the module's current pipe name
    ($env:BCS_PIPE_NAME or BitsCompactServer).

    .PARAMETER TaskName
    The task's name (default BitsCompactServer).

    .PARAMETER TaskPath
    The task's folder in Task Scheduler (default \).

    .PARAMETER User
    The account the engine runs as (default SYSTEM). A user account without -Credential runs as S4U.

    .PARAMETER Credential
    A user account and its password; the task runs with a stored password.

    .PARAMETER RunLevel
    Limited or Highest. Default: Highest for SYSTEM, LOCAL SERVICE and NETWORK SERVICE, Limited
    for other accounts. Give Highest when the account is an administrator and the engine needs
    the administrators' rights (a state directory or hosted files only administrators may use).

    .PARAMETER NoDemo
    On a first start (no config.yaml yet) begin with an empty configuration instead of the demo
    URL group http://+:8080/Demo/.

    .PARAMETER Force
    Replace a task of the same name.

    .PARAMETER StartNow
    Start the task once it is registered, instead of waiting for the next startup.

    .EXAMPLE
    Register-BcsScheduledTask -PythonPath 'C:\Bcs\.venv\Scripts\python.exe' -StateDirectory 'D:\BcsState' -StartNow

    Runs the engine as SYSTEM at every startup, and now.

    .EXAMPLE
    Register-BcsScheduledTask -User 'CORP\svc-bcs$' -RunLevel Highest -NoDemo -Force

    Replaces the task with one that runs the engine as a group managed service account.

    .OUTPUTS
    Bcs.ScheduledTask
    #>
    [CmdletBinding(SupportsShouldProcess, ConfirmImpact = 'Medium', DefaultParameterSetName = 'User')]
    [OutputType('Bcs.ScheduledTask')]
    param(
        [string]$PythonPath,

        [string]$StateDirectory,

        [ValidateNotNullOrEmpty()]
        [string]$PipeName,

        [ValidateNotNullOrEmpty()]
        [string]$TaskName = 'BitsCompactServer',

        [Parameter()]
        [ValidatePattern('^\\')]
        [string]$TaskPath = '\',

        [Parameter(ParameterSetName = 'User')]
        [ValidateNotNullOrEmpty()]
        [string]$User = 'SYSTEM',

        [Parameter(Mandatory, ParameterSetName = 'Credential')]
        [System.Management.Automation.PSCredential]$Credential,

        [Parameter()]
        [ValidateSet('Limited', 'Highest')]
        [string]$RunLevel,

        [Parameter()]
        [switch]$NoDemo,

        [Parameter()]
        [switch]$Force,

        [Parameter()]
        [switch]$StartNow
    )

    Assert-BcsScheduledTaskSupported -Cmdlet $PSCmdlet -TaskName $TaskName
    if (-not $PythonPath) {
        $PythonPath = $env:BCS_PYTHON
    }
    if (-not $PythonPath) {
        $PythonPath = 'python'
    }
    $python = Get-Command -Name $PythonPath -CommandType Application -ErrorAction SilentlyContinue | Select-Object -First 1
    if ($null -eq $python) {
        $record = New-BcsErrorRecord -Message "Cannot find '$PythonPath'. Give the Python that has the bcs package with -PythonPath or `$env:BCS_PYTHON." -ErrorId 'Bcs.Server.PythonNotFound' -Category 'ObjectNotFound' -TargetObject $PythonPath -HResult '0x80070002'
        $PSCmdlet.ThrowTerminatingError($record)
    }
    if (-not $PipeName) {
        $PipeName = Get-BcsPipeName
    }

    # The engine in the foreground: the task's process is the engine (no --detach).
    $arguments = @('-m', 'bcs', '--pipe-name', $PipeName, 'serve')
    $stateDirectoryArgument = $null
    if ($StateDirectory) {
        # A full path without a trailing separator (see ConvertTo-BcsDirectoryArgument).
        $stateDirectoryArgument = ConvertTo-BcsDirectoryArgument -Cmdlet $PSCmdlet -Path $StateDirectory
        $arguments += @('--state-dir', $stateDirectoryArgument)
    }
    if ($NoDemo) {
        $arguments += '--no-demo'
    }
    # One command line for CreateProcess: words with blanks in double quotes (none ends in \).
    $argumentLine = ($arguments | ForEach-Object -Process {
            if ($_ -match '\s') {
                '"' + $_ + '"'
            }
            else {
                $_
            }
        }) -join ' '

    $account = $User
    if ($PSCmdlet.ParameterSetName -eq 'Credential') {
        $account = $Credential.UserName
    }
    $serviceAccounts = @('SYSTEM', 'NT AUTHORITY\SYSTEM', 'LOCAL SERVICE', 'NT AUTHORITY\LOCAL SERVICE', 'NETWORK SERVICE', 'NT AUTHORITY\NETWORK SERVICE')
    $isServiceAccount = $serviceAccounts -contains $account.ToUpperInvariant()
    if (-not $RunLevel) {
        $RunLevel = 'Limited'
        if ($isServiceAccount) {
            $RunLevel = 'Highest'
        }
    }
    $logonType = 'S4U'
    if ($isServiceAccount) {
        $logonType = 'ServiceAccount'
    }
    elseif ($PSCmdlet.ParameterSetName -eq 'Credential') {
        $logonType = 'Password'
    }
    elseif ($account.EndsWith('$')) {
        # A group managed service account: Task Scheduler fetches its password from the domain.
        $logonType = 'Password'
    }

    $existing = Get-ScheduledTask -TaskName $TaskName -TaskPath $TaskPath -ErrorAction SilentlyContinue
    if ($null -ne $existing -and -not $Force) {
        $record = New-BcsErrorRecord -Message "A scheduled task '$TaskPath$TaskName' exists already; give -Force to replace it, or Unregister-BcsScheduledTask first." -ErrorId 'Bcs.ScheduledTask.AlreadyExists' -Category 'ResourceExists' -TargetObject $TaskName -HResult '0x800700B7'
        $PSCmdlet.WriteError($record)
        return
    }

    $action = "Register the scheduled task '$TaskPath$TaskName' running '$($python.Path) $argumentLine' at startup as $account ($logonType, $RunLevel)"
    if (-not $PSCmdlet.ShouldProcess($TaskName, $action)) {
        return
    }
    $taskAction = New-ScheduledTaskAction -Execute $python.Path -Argument $argumentLine
    $trigger = New-ScheduledTaskTrigger -AtStartup
    $settings = New-ScheduledTaskSettingsSet -ExecutionTimeLimit ([System.TimeSpan]::Zero) -RestartCount 3 -RestartInterval (New-TimeSpan -Minutes 1) -AllowStartIfOnBatteries -DontStopIfGoingOnBatteries -StartWhenAvailable -MultipleInstances IgnoreNew
    $register = @{
        TaskName    = $TaskName
        TaskPath    = $TaskPath
        Action      = $taskAction
        Trigger     = $trigger
        Settings    = $settings
        Description = 'BITS Compact Server engine (python -m bcs serve), registered by Register-BcsScheduledTask.'
        Force       = $true
        ErrorAction = 'Stop'
    }
    if ($PSCmdlet.ParameterSetName -eq 'Credential') {
        $register['User'] = $Credential.UserName
        $register['Password'] = $Credential.GetNetworkCredential().Password
        $register['RunLevel'] = $RunLevel
    }
    else {
        $register['Principal'] = New-ScheduledTaskPrincipal -UserId $account -LogonType $logonType -RunLevel $RunLevel
    }
    try {
        $task = Register-ScheduledTask @register
        if ($StartNow) {
            Start-ScheduledTask -TaskName $TaskName -TaskPath $TaskPath -ErrorAction Stop
            $task = Get-ScheduledTask -TaskName $TaskName -TaskPath $TaskPath -ErrorAction Stop
        }
    }
    catch {
        $record = New-BcsErrorRecord -Message "Cannot register the scheduled task '$TaskPath$TaskName': $($_.Exception.Message)" -ErrorId 'Bcs.ScheduledTask.RegisterFailed' -Category 'InvalidOperation' -TargetObject $TaskName -HResult '0x80004005'
        $PSCmdlet.ThrowTerminatingError($record)
    }
    [pscustomobject]@{
        PSTypeName     = 'Bcs.ScheduledTask'
        TaskName       = $TaskName
        TaskPath       = $TaskPath
        State          = [string]$task.State
        User           = $account
        LogonType      = $logonType
        RunLevel       = $RunLevel
        Execute        = $python.Path
        Arguments      = $argumentLine
        PipeName       = $PipeName
        StateDirectory = $stateDirectoryArgument
    }
}
