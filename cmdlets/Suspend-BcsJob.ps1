function Suspend-BcsJob {
    <#
    .SYNOPSIS
    Suspends a BITS transfer job.

    .DESCRIPTION
    The job stops transferring and keeps its progress (job.suspend); Resume-BcsJob continues it. Works from any state that is not final.

    .PARAMETER JobId
    The job's GUID.

    .EXAMPLE
    Suspend-BcsJob -JobId $job.JobId

    .EXAMPLE
    Get-BcsJob | Suspend-BcsJob

    Suspends every job of the current user.

    .OUTPUTS
    Bcs.Job
    #>
    [CmdletBinding(SupportsShouldProcess, ConfirmImpact = 'Medium')]
    [OutputType('Bcs.Job')]
    param(
        [Parameter(Mandatory, Position = 0, ValueFromPipelineByPropertyName)]
        [string]$JobId
    )

    process {
        $params = @{ jobId = $JobId }
        if ($PSCmdlet.ShouldProcess($JobId, 'Suspend BITS job')) {
            Invoke-BcsRpc -Cmdlet $PSCmdlet -Method 'job.suspend' -Params $params | ConvertTo-BcsObject -TypeName 'Bcs.Job'
        }
    }
}
