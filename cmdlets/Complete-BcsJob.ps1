function Complete-BcsJob {
    <#
    .SYNOPSIS
    Completes a transferred BITS job: its files appear at their destinations.

    .DESCRIPTION
    Commits the transferred files (job.complete): they are renamed from their hidden temporary names to their destinations and the job becomes Acknowledged. Needed after Start-BcsJob -Asynchronous, as Complete-BitsTransfer.

    .PARAMETER JobId
    The job's GUID.

    .EXAMPLE
    Complete-BcsJob -JobId $job.JobId

    .EXAMPLE
    Get-BcsJob | Where-Object -Property JobState -EQ 'Transferred' | Complete-BcsJob

    Completes every transferred job.

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
        if ($PSCmdlet.ShouldProcess($JobId, 'Complete BITS job (commit its files)')) {
            Invoke-BcsRpc -Cmdlet $PSCmdlet -Method 'job.complete' -Params $params | ConvertTo-BcsObject -TypeName 'Bcs.Job'
        }
    }
}
