function Get-BcsServer {
    <#
    .SYNOPSIS
    Gets the status and server-wide settings of the BITS Compact Server engine.

    .DESCRIPTION
    Returns the engine's version, process id, pipe, state directory, uptime, server-wide settings
    (MaxUrlGroups, BandwidthLimit, AccessLog, BackgroundJobSlots, JobBandwidthLimit) and the status
    of its services (server.status).

    .EXAMPLE
    Get-BcsServer

    .EXAMPLE
    Get-BcsServer | Select-Object -Property Version, Pid, StateDir, UrlGroupCount

    .OUTPUTS
    Bcs.Server
    #>
    [CmdletBinding()]
    [OutputType('Bcs.Server')]
    param()

    Invoke-BcsRpc -Cmdlet $PSCmdlet -Method 'server.status' | ConvertTo-BcsObject -TypeName 'Bcs.Server'
}
