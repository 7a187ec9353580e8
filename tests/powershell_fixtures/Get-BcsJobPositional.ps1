function Get-BcsJobPositional {
    <#
    .SYNOPSIS
    The Get-BcsJob defect: -JobId and -Name are both Position 0 in different sets and both strings,
    so 'Get-BcsJobPositional $id' binds -Name (the default set is tried first) and finds nothing.
    #>
    [CmdletBinding(DefaultParameterSetName = 'List')]
    [OutputType('Bcs.Job')]
    param(
        [Parameter(Mandatory, Position = 0, ParameterSetName = 'JobId', ValueFromPipelineByPropertyName)]
        [string[]]$JobId,

        [Parameter(Position = 0, ParameterSetName = 'List')]
        [SupportsWildcards()]
        [string]$Name,

        [Parameter(ParameterSetName = 'List')]
        [switch]$AllUsers
    )

    process {
        if ($PSCmdlet.ParameterSetName -eq 'JobId') {
            foreach ($id in $JobId) {
                Invoke-BcsRpc -Cmdlet $PSCmdlet -Method 'job.get' -Params @{ jobId = [string]$id }
            }
            return
        }
        Invoke-BcsRpc -Cmdlet $PSCmdlet -Method 'job.list' -Params @{ allUsers = $AllUsers.IsPresent; name = $Name }
    }
}
