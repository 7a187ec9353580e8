function Start-BcsServer {
    <#
    .SYNOPSIS
    Starts the BITS Compact Server engine in the background and waits until its pipe answers.

    .DESCRIPTION
    Runs 'python -m bcs --pipe-name <PipeName> serve --state-dir <StateDirectory>' as a background
    process (hidden on Windows) with its standard output and error in log files, then waits until
    the engine answers server.status on its pipe and returns the engine's status.

    With -PipeName the module remembers the name, so the cmdlets that follow talk to this engine.
    An engine that already answers on the pipe is reported as an error (Bcs.Server.AlreadyRunning);
    an engine that exits while starting is reported with the end of its error output.

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
    Where the engine's standard output and error go (engine-<PipeName>.out/.err).
    Default: the state directory if given, else the temporary directory.

    .PARAMETER Timeout
    Seconds to wait for the engine to answer (default 30).

    .EXAMPLE
    Start-BcsServer

    Starts the engine with its default state directory on the pipe BitsCompactServer.

    .EXAMPLE
    Start-BcsServer -PythonPath C:\Python312\python.exe -StateDirectory D:\Bcs -PipeName BcsLab

    Starts an engine on its own pipe and state directory; later cmdlets of this session use it.

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
        [int]$Timeout = 30
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
    $arguments = @('-m', 'bcs', '--pipe-name', $PipeName, 'serve')
    if ($StateDirectory) {
        $StateDirectory = $PSCmdlet.GetUnresolvedProviderPathFromPSPath($StateDirectory)
        $arguments += @('--state-dir', $StateDirectory)
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
    if (-not $LogDirectory) {
        $LogDirectory = $StateDirectory
    }
    if (-not $LogDirectory) {
        $LogDirectory = [System.IO.Path]::GetTempPath()
    }
    $LogDirectory = $PSCmdlet.GetUnresolvedProviderPathFromPSPath($LogDirectory)
    if (-not (Test-Path -LiteralPath $LogDirectory)) {
        $null = New-Item -ItemType Directory -Path $LogDirectory -Force
    }
    $safeName = $PipeName -replace '[\\/:*?"<>|]', '_'
    $outLog = Join-Path -Path $LogDirectory -ChildPath "engine-$safeName.out"
    $errLog = Join-Path -Path $LogDirectory -ChildPath "engine-$safeName.err"
    $quoted = foreach ($argument in $arguments) {
        if ($argument -match '[\s"]') {
            '"' + ($argument -replace '"', '\"') + '"'
        }
        else {
            $argument
        }
    }
    $startArguments = @{
        FilePath               = $PythonPath
        ArgumentList           = ($quoted -join ' ')
        RedirectStandardOutput = $outLog
        RedirectStandardError  = $errLog
        PassThru               = $true
    }
    if (Test-BcsWindows) {
        $startArguments['WindowStyle'] = 'Hidden'
    }
    try {
        $process = Start-Process @startArguments -ErrorAction Stop
    }
    catch {
        $record = New-BcsErrorRecord -Message "Cannot run '$PythonPath': $($_.Exception.Message). Give the Python that has the bcs package with -PythonPath or `$env:BCS_PYTHON." -ErrorId 'Bcs.Server.PythonNotFound' -Category 'ObjectNotFound' -TargetObject $PythonPath -HResult '0x80070002'
        $PSCmdlet.ThrowTerminatingError($record)
    }
    $deadline = [System.DateTime]::UtcNow.AddSeconds($Timeout)
    while (-not (Test-BcsPipe -PipeName $PipeName -TimeoutMilliseconds 200)) {
        if ($process.HasExited) {
            $detail = ''
            if (Test-Path -LiteralPath $errLog) {
                $detail = (Get-Content -LiteralPath $errLog -Tail 5) -join [System.Environment]::NewLine
            }
            $record = New-BcsErrorRecord -Message "The engine exited with code $($process.ExitCode) while starting: $detail" -ErrorId 'Bcs.Server.StartFailed' -Category 'OpenError' -TargetObject $PipeName
            $PSCmdlet.ThrowTerminatingError($record)
        }
        if ([System.DateTime]::UtcNow -gt $deadline) {
            $record = New-BcsErrorRecord -Message "The engine (process $($process.Id)) did not answer on pipe '$PipeName' within $Timeout s; see $errLog." -ErrorId 'Bcs.Server.StartTimeout' -Category 'OperationTimeout' -TargetObject $PipeName -HResult '0x800705B4'
            $PSCmdlet.ThrowTerminatingError($record)
        }
        Start-Sleep -Milliseconds 100
    }
    Invoke-BcsRpc -Cmdlet $PSCmdlet -Method 'server.status' | ConvertTo-BcsObject -TypeName 'Bcs.Server'
}
