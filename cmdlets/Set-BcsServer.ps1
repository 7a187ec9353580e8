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

    .PARAMETER BackgroundJobSlots
    How many background-priority jobs transfer at once.

    .PARAMETER JobBandwidthLimit
    Bytes per second for all BITS client jobs together; 0 = unlimited, else at least 1024.

    .EXAMPLE
    Set-BcsServer -MaxUrlGroups 100

    .EXAMPLE
    Set-BcsServer -BandwidthLimit 10MB -AccessLog $false

    Limits the file host to 10 MiB/s and turns the access log off.

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
