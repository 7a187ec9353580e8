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
# An ISO-8601 date and time as the engine writes them (2026-12-01T06:21:29.123Z): the form
# PowerShell 7's ConvertFrom-Json turns into [datetime] while Windows PowerShell 5.1 keeps a
# string; ConvertTo-BcsObject makes both editions return a UTC [datetime].
$script:BcsDateTimePattern = '^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,7})?(Z|[+-]\d{2}:\d{2})?$'
# The job settings Start-BcsJob and Set-BcsJob forward to Add-BcsJobSetting when the user bound
# them (splatted by name). Authentication and ProxyAuthentication are not here: the callers pass
# them always, so their defaults apply, and a name both splatted and passed would be an error.
$script:BcsJobSettingParameters = @(
    'Description', 'Credential', 'ProxyUsage', 'ProxyList', 'ProxyBypass', 'ProxyCredential',
    'RetryInterval', 'RetryTimeout', 'MaxDownloadTime', 'CustomHeaders', 'SecurityFlags',
    'CertificateAuthorityFile', 'ClientCertificateFile', 'BandwidthLimit', 'Dynamic'
)
