<#
.SYNOPSIS
The classic BITS Compact Server "Hello World" walkthrough, written with the BitsCompactServer cmdlets.

.DESCRIPTION
Starts an engine, creates a URL group, publishes a file in it, downloads that file with a BITS
job (showing its progress), completes the job, checks the copy and cleans up. Returns one
object that sums up what happened.

Runs unchanged in Windows PowerShell 5.1 and PowerShell 7 on Windows and Linux; the Pester
end-to-end test (pester/EndToEnd.Tests.ps1) runs it against a real engine.

Every step that the next one depends on runs with -ErrorAction Stop: $ErrorActionPreference
set in a script does not reach the errors the module's functions write (they see the
preference of the module's scope), so only an explicit -ErrorAction makes them stop the script.

.PARAMETER Port
TCP port of the URL group (default 8080).

.PARAMETER PythonPath
The Python that has the bcs package installed (default: Start-BcsServer's default).

.PARAMETER StateDirectory
The engine's state directory (default: bcs-hello-world in the temporary directory).

.PARAMETER PipeName
The engine's pipe name (default BcsHelloWorld, so an engine already running is not disturbed).

.PARAMETER KeepServer
Leave the engine, the URL group and the files in place at the end.

.PARAMETER NoDemo
Start a new state directory without the demo URL group http://+:8080/Demo/
(Start-BcsServer -NoDemo).

.EXAMPLE
./examples/HelloWorld.ps1

.EXAMPLE
./examples/HelloWorld.ps1 -Port 8090 -PythonPath ./.venv/bin/python -KeepServer

.OUTPUTS
System.Management.Automation.PSCustomObject
#>
[CmdletBinding()]
[OutputType([psobject])]
param(
    [ValidateRange(1, 65535)]
    [int]$Port = 8080,

    [Parameter()]
    [string]$PythonPath,

    [string]$StateDirectory = (Join-Path -Path ([System.IO.Path]::GetTempPath()) -ChildPath 'bcs-hello-world'),

    [Parameter()]
    [string]$PipeName = 'BcsHelloWorld',

    [Parameter()]
    [switch]$KeepServer,

    [Parameter()]
    [switch]$NoDemo
)

$ErrorActionPreference = 'Stop'
$moduleRoot = Split-Path -Path $PSScriptRoot -Parent
Import-Module -Name (Join-Path -Path $moduleRoot -ChildPath 'BitsCompactServer.psd1') -Force -ErrorAction Stop

# 1. Start the engine on its own pipe and state directory.
$serverParameters = @{
    StateDirectory = $StateDirectory
    PipeName       = $PipeName
}
if ($PythonPath) {
    $serverParameters['PythonPath'] = $PythonPath
}
if ($NoDemo) {
    $serverParameters['NoDemo'] = $true
}
$server = Start-BcsServer @serverParameters -ErrorAction Stop
Write-Verbose -Message "Engine $($server.Version) running as process $($server.Pid) on pipe $($server.PipeName)."

$urlGroup = "http://+:$Port/HelloWorld/"
try {
    # 2. The file to host.
    $contentDirectory = Join-Path -Path $StateDirectory -ChildPath 'content'
    $null = New-Item -ItemType Directory -Path $contentDirectory -Force -ErrorAction Stop
    $sourceFile = Join-Path -Path $contentDirectory -ChildPath 'hello.txt'
    $text = 'Hello, World! Greetings from BITS Compact Server.'
    [System.IO.File]::WriteAllText($sourceFile, $text)

    # 3. A URL group, and the file published in it.
    $group = New-BcsUrlGroup -UrlGroup $urlGroup -ConnectionLimit 3 -ErrorAction Stop
    $url = Add-BcsUrl -UrlGroup $group.UrlGroup -UrlSuffix 'hello.txt' -SourcePath $sourceFile -ErrorAction Stop
    Get-BcsUrlGroup -UrlGroup $group.UrlGroup | Get-BcsUrl | Format-Table | Out-String | Write-Verbose

    # 4. Download it with a BITS job: start it, follow its progress, complete it.
    $destination = Join-Path -Path $StateDirectory -ChildPath 'downloaded-hello.txt'
    if (Test-Path -LiteralPath $destination) {
        Remove-Item -LiteralPath $destination -ErrorAction Stop
    }
    $job = Start-BcsJob -Source "http://localhost:$Port/HelloWorld/hello.txt" -Destination $destination -DisplayName 'Hello World' -Asynchronous -ErrorAction Stop
    $job = $job | Wait-BcsJob -Timeout 120 -ErrorAction Stop
    if ($job.JobState -ne 'Transferred') {
        throw "The Hello World job ended in state $($job.JobState): $($job.ErrorDescription)"
    }
    $job = $job | Complete-BcsJob -ErrorAction Stop

    # 5. The copy is the original.
    $downloaded = [System.IO.File]::ReadAllText($destination)
    [pscustomobject]@{
        PSTypeName       = 'Bcs.HelloWorldResult'
        UrlGroup         = $group.UrlGroup
        Url              = $url.Url
        JobId            = $job.JobId
        JobState         = $job.JobState
        BytesTransferred = $job.BytesTransferred
        Destination      = $destination
        Content          = $downloaded
        Identical        = ($downloaded -ceq $text)
    }
}
finally {
    if (-not $KeepServer) {
        Remove-BcsUrlGroup -UrlGroup $urlGroup -Confirm:$false -ErrorAction SilentlyContinue
        Stop-BcsServer -Confirm:$false
    }
}
