function Get-BcsJob {
    <#
    .SYNOPSIS
    Gets BITS transfer jobs with their files, progress and errors.

    .DESCRIPTION
    Without -JobId returns the jobs that are not final (job.list), optionally only those whose
    display name matches -Name (wildcards * and ?), and with -AllUsers those of every user
    (administrators and root only). With -JobId returns those jobs (job.get), writing an error
    for each one that does not exist.

    .PARAMETER JobId
    GUIDs of the jobs to get. Position 0, so Get-BcsJob $job.JobId gets that job. A job that is
    cancelled or acknowledged (completed) no longer exists for job.get: it is reported as
    Bcs.Job.NotFound (BG_E_NOT_FOUND), as BITS does.

    .PARAMETER Name
    Wildcard pattern on the display name (by name only: -Name 'Nightly*').

    .PARAMETER AllUsers
    Jobs of every user, not only the caller's.

    .EXAMPLE
    Get-BcsJob

    .EXAMPLE
    Get-BcsJob -Name 'Nightly*' | Suspend-BcsJob

    .EXAMPLE
    Get-BcsJob -JobId 6f1c3c2e-5d8a-4a0c-9d2b-2f4b3d9b1c55 | Format-List -Property *

    .EXAMPLE
    Get-BcsJob $job.JobId

    A positional argument is a job id.

    .OUTPUTS
    Bcs.Job
    #>
    [CmdletBinding(DefaultParameterSetName = 'List')]
    [OutputType('Bcs.Job')]
    # Only -JobId is positional: both are strings, so when -Name also had position 0 in the
    # default set 'List', PowerShell bound Get-BcsJob $id to -Name and found no job.
    param(
        [Parameter(Mandatory, Position = 0, ParameterSetName = 'JobId', ValueFromPipelineByPropertyName)]
        [string[]]$JobId,

        [Parameter(ParameterSetName = 'List')]
        [SupportsWildcards()]
        [string]$Name,

        [Parameter(ParameterSetName = 'List')]
        [switch]$AllUsers
    )

    process {
        if ($PSCmdlet.ParameterSetName -eq 'JobId') {
            foreach ($id in $JobId) {
                Invoke-BcsRpc -Cmdlet $PSCmdlet -Method 'job.get' -Params @{ jobId = [string]$id } | ConvertTo-BcsObject -TypeName 'Bcs.Job'
            }
            return
        }
        $params = @{ allUsers = $AllUsers.IsPresent }
        if ($PSBoundParameters.ContainsKey('Name')) {
            $params['name'] = $Name
        }
        Invoke-BcsRpc -Cmdlet $PSCmdlet -Method 'job.list' -Params $params | ConvertTo-BcsObject -TypeName 'Bcs.Job'
    }
}
