function Set-BcsServer {
    <#
    .SYNOPSIS
    Changes server-wide settings of the file host and the BITS client.

    .DESCRIPTION
    Only the settings given change (server.set); they apply at once and persist in config.yaml.
    Returns the engine's status with the new settings.

    .PARAMETER MaxUrlGroups
    Most URL groups the server accepts (default 25, as the original).

    .PARAMETER BandwidthLimit
    Bytes per second for all URL groups together; 0 = unlimited, else at least 1024.

    .PARAMETER AccessLog
    Whether to write one access-log line per HTTP request.

    .PARAMETER AccessLogFormat
    'text' (one space-separated line per request, the default) or 'json' (one JSON object per line).

    .PARAMETER MetricsPort
    Port of the Prometheus endpoint /metrics; 0 turns it off (the default). It must not be a URL group's port.

    .PARAMETER MetricsAddress
    IP address /metrics listens on; default 127.0.0.1. Use 0.0.0.0 or :: to let another machine scrape it.

    .PARAMETER BackgroundJobSlots
    How many background-priority jobs transfer at once.

    .PARAMETER JobBandwidthLimit
    Bytes per second for all BITS client jobs together; 0 = unlimited, else at least 1024.

    .EXAMPLE
    Set-BcsServer -MaxUrlGroups 100

    .EXAMPLE
    Set-BcsServer -BandwidthLimit 10MB -AccessLog $false

    Limits the file host to 10 MiB/s and turns the access log off.

    .EXAMPLE
    Set-BcsServer -MetricsPort 9464 -AccessLogFormat json

    Serves Prometheus metrics at http://127.0.0.1:9464/metrics and writes the access log as JSON lines.

    .OUTPUTS
    Bcs.Server
    #>
    [CmdletBinding(SupportsShouldProcess, ConfirmImpact = 'Medium')]
    [OutputType('Bcs.Server')]
    param(
        [ValidateRange(1, 100000)]
        [int]$MaxUrlGroups,

        [ValidateRange(0, [long]::MaxValue)]
        [long]$BandwidthLimit,

        [bool]$AccessLog,

        [ValidateSet('text', 'json')]
        [string]$AccessLogFormat,

        [ValidateRange(0, 65535)]
        [int]$MetricsPort,

        [ValidateNotNullOrEmpty()]
        [string]$MetricsAddress,

        [ValidateRange(1, 1000)]
        [int]$BackgroundJobSlots,

        [ValidateRange(0, [long]::MaxValue)]
        [long]$JobBandwidthLimit
    )

    $params = @{}
    if ($PSBoundParameters.ContainsKey('MaxUrlGroups')) {
        $params['maxUrlGroups'] = $MaxUrlGroups
    }
    if ($PSBoundParameters.ContainsKey('BandwidthLimit')) {
        $params['bandwidthLimit'] = $BandwidthLimit
    }
    if ($PSBoundParameters.ContainsKey('AccessLog')) {
        $params['accessLog'] = $AccessLog
    }
    if ($PSBoundParameters.ContainsKey('AccessLogFormat')) {
        $params['accessLogFormat'] = $AccessLogFormat
    }
    if ($PSBoundParameters.ContainsKey('MetricsPort')) {
        $params['metricsPort'] = $MetricsPort
    }
    if ($PSBoundParameters.ContainsKey('MetricsAddress')) {
        $params['metricsAddress'] = $MetricsAddress
    }
    if ($PSBoundParameters.ContainsKey('BackgroundJobSlots')) {
        $params['backgroundJobSlots'] = $BackgroundJobSlots
    }
    if ($PSBoundParameters.ContainsKey('JobBandwidthLimit')) {
        $params['jobBandwidthLimit'] = $JobBandwidthLimit
    }
    if ($PSCmdlet.ShouldProcess((Get-BcsPipeName), 'Change server settings')) {
        Invoke-BcsRpc -Cmdlet $PSCmdlet -Method 'server.set' -Params $params | ConvertTo-BcsObject -TypeName 'Bcs.Server'
    }
}
