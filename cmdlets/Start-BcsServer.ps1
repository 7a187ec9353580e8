function Start-BcsServer {
    <#
    .SYNOPSIS
    Starts the BITS Compact Server engine in the background and waits until its pipe answers.

    .DESCRIPTION
    Runs 'python -m bcs --pipe-name <PipeName> serve --state-dir <StateDirectory> --detach' and
    returns the engine's status. With --detach the engine starts itself as a background process in
    its own session (setsid on Unix; a detached process group without a console window on
    Windows) with standard input from the null device and its standard output and error appended
    to engine-<PipeName>.out and .err in the log directory, waits until it answers server.status
    on its pipe, prints one JSON line and exits. So the engine does not belong to this terminal:
    Ctrl+C on a synchronous Start-BcsJob and closing the terminal leave it running. Stop it with
    Stop-BcsServer.

    With -PipeName the module remembers the name, so the cmdlets that follow talk to this engine.
    An engine that already answers on the pipe is reported as an error (Bcs.Server.AlreadyRunning).
    An engine that cannot start is a terminating error with the engine's error id
    (Bcs.Server.StartFailed, Bcs.Server.AlreadyRunning when another engine holds the state
    directory, Bcs.Server.StartTimeout); a Python that cannot be run is Bcs.Server.PythonNotFound.

    .PARAMETER PythonPath
    The Python interpreter that has the bcs package installed (pip install -e .).
    Default: $env:BCS_PYTHON, else 'python' on Windows and 'python3' elsewhere.

    .PARAMETER StateDirectory
    The engine's state directory (config.yaml, jobs.db, uploads). Default: the engine's default
    ($env:BCS_STATE_DIR, %ProgramData%\BitsCompactServer, /var/lib/bits-compact-server or
    $XDG_STATE_HOME/bits-compact-server).

    .PARAMETER PipeName
    The management pipe name. Default: the module's current pipe name ($env:BCS_PIPE_NAME or
    BitsCompactServer).

    .PARAMETER LogDirectory
    Where the engine appends its standard output and error (engine-<PipeName>.out/.err, with
    characters that cannot be in a file name replaced). Default: the state directory.

    .PARAMETER Timeout
    Seconds to wait for the engine to answer (default 30).

    .PARAMETER NoDemo
    On a first start (no config.yaml in the state directory yet) start with an empty
    configuration instead of the demo URL group http://+:8080/Demo/. Tests use it so that a new
    state directory holds no URL group.

    .EXAMPLE
    Start-BcsServer

    Starts the engine with its default state directory on the pipe BitsCompactServer.

    .EXAMPLE
    Start-BcsServer -PythonPath C:\Python312\python.exe -StateDirectory D:\Bcs -PipeName BcsLab -NoDemo

    Starts an engine on its own pipe and state directory, without the demo URL group; later
    cmdlets of this session use it.

    .OUTPUTS
    Bcs.Server
    #>
    [CmdletBinding(SupportsShouldProcess, ConfirmImpact = 'Medium')]
    [OutputType('Bcs.Server')]
    param(
        [string]$PythonPath,

        [string]$StateDirectory,

        [ValidateNotNullOrEmpty()]
        [string]$PipeName,

        [string]$LogDirectory,

        [ValidateRange(1, 3600)]
        [int]$Timeout = 30,

        [Parameter()]
        [switch]$NoDemo
    )

    if (-not $PythonPath) {
        $PythonPath = $env:BCS_PYTHON
    }
    if (-not $PythonPath) {
        $PythonPath = 'python3'
        if (Test-BcsWindows) {
            $PythonPath = 'python'
        }
    }
    if (-not $PipeName) {
        $PipeName = Get-BcsPipeName
    }
    $arguments = @('-m', 'bcs', '--pipe-name', $PipeName, 'serve', '--detach', '--timeout', [string]$Timeout)
    # Directories are passed as full paths without a trailing separator: see
    # ConvertTo-BcsDirectoryArgument for the Windows PowerShell 5.1 quoting defect this avoids.
    if ($StateDirectory) {
        $arguments += @('--state-dir', (ConvertTo-BcsDirectoryArgument -Cmdlet $PSCmdlet -Path $StateDirectory))
    }
    if ($LogDirectory) {
        $arguments += @('--log-dir', (ConvertTo-BcsDirectoryArgument -Cmdlet $PSCmdlet -Path $LogDirectory))
    }
    if ($NoDemo) {
        $arguments += '--no-demo'
    }
    if (-not $PSCmdlet.ShouldProcess($PipeName, "Start the BITS Compact Server engine ($PythonPath)")) {
        return
    }
    $script:BcsSettings.PipeName = $PipeName
    if (Test-BcsPipe -PipeName $PipeName) {
        $record = New-BcsErrorRecord -Message "An engine already answers on pipe '$PipeName'; stop it with Stop-BcsServer or choose another -PipeName." -ErrorId 'Bcs.Server.AlreadyRunning' -Category 'ResourceExists' -TargetObject $PipeName -HResult '0x800700B7'
        $PSCmdlet.WriteError($record)
        return
    }

    # The engine detaches itself (its own session, output in its log files) and this call returns
    # when it answers or has failed, so there is no Start-Process: no child left in this
    # terminal's process group, no output piped through PowerShell, and no need to read
    # $process.Handle to get an ExitCode on Windows (PowerShell issue 5421). A native call is
    # synchronous and sets $LASTEXITCODE in every edition.
    $python = Get-Command -Name $PythonPath -CommandType Application -ErrorAction SilentlyContinue | Select-Object -First 1
    $runError = "no such program"
    $engineOutput = @()
    if ($null -ne $python) {
        try {
            # Stderr is merged so that it can be reported; 'Continue' keeps Windows PowerShell 5.1
            # from turning the first stderr line into a terminating error when the caller asked
            # for -ErrorAction Stop, and exit code 1 (a reported failure) must not become an
            # error of its own in PowerShell 7.4+ ($PSNativeCommandUseErrorActionPreference).
            $engineOutput = @(& {
                    $ErrorActionPreference = 'Continue'
                    $PSNativeCommandUseErrorActionPreference = $false
                    & $python.Path @arguments 2>&1
                })
            $runError = $null
        }
        catch {
            $runError = $_.Exception.Message
        }
    }
    if ($null -ne $runError) {
        $record = New-BcsErrorRecord -Message "Cannot run '$PythonPath': $runError. Give the Python that has the bcs package with -PythonPath or `$env:BCS_PYTHON." -ErrorId 'Bcs.Server.PythonNotFound' -Category 'ObjectNotFound' -TargetObject $PythonPath -HResult '0x80070002'
        $PSCmdlet.ThrowTerminatingError($record)
    }
    $exitCode = $LASTEXITCODE
    $stdout = @($engineOutput | Where-Object -FilterScript { $_ -is [string] })
    $stderr = @($engineOutput | Where-Object -FilterScript { $_ -is [System.Management.Automation.ErrorRecord] } | ForEach-Object -Process { $_.ToString() })
    $reply = $null
    $jsonLine = $stdout | Where-Object -FilterScript { $_.TrimStart().StartsWith('{') } | Select-Object -Last 1
    if ($jsonLine) {
        try {
            $reply = ConvertFrom-Json -InputObject $jsonLine
        }
        catch {
            $reply = $null
        }
    }
    if ($exitCode -eq 0 -and $null -ne $reply -and $null -ne $reply.status) {
        $reply.status | ConvertTo-BcsObject -TypeName 'Bcs.Server'
        return
    }
    $errorId = 'Bcs.Server.StartFailed'
    $category = 'OpenError'
    $hresult = '0x80004005'
    $detail = ($stderr | Select-Object -Last 5) -join [System.Environment]::NewLine
    $message = "The engine did not start (exit code $exitCode): $detail"
    if ($null -ne $reply -and $null -ne $reply.error) {
        $engineError = $reply.error
        $message = [string]$engineError.message
        if ($engineError.errorId) {
            $errorId = [string]$engineError.errorId
        }
        if ($engineError.category) {
            $category = [string]$engineError.category
        }
        if ($engineError.hresult) {
            $hresult = [string]$engineError.hresult
        }
        if ($engineError.name) {
            $message = '{0} ({1} {2})' -f $message, $engineError.name, $hresult
        }
    }
    $record = New-BcsErrorRecord -Message $message -ErrorId $errorId -Category $category -TargetObject $PipeName -HResult $hresult
    $PSCmdlet.ThrowTerminatingError($record)
}
