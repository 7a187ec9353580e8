function Resume-BcsJob {
    <#
    .SYNOPSIS
    Resumes a suspended or failed BITS transfer job and, unless -Asynchronous, runs it to completion.

    .DESCRIPTION
    Mirrors Resume-BitsTransfer: the job is queued again (job.resume). Without -Asynchronous the
    cmdlet then waits with progress, completes the job when its files are transferred and
    returns the completed job (even for jobs created with -Asynchronous); Ctrl+C cancels the job.
    With -Asynchronous it returns the resumed job at once.

    .PARAMETER JobId
    The job's GUID.

    .PARAMETER Asynchronous
    Return the job at once instead of waiting for it and completing it.

    .EXAMPLE
    Resume-BcsJob -JobId $job.JobId

    .EXAMPLE
    Get-BcsJob | Where-Object -Property JobState -EQ 'Suspended' | Resume-BcsJob -Asynchronous

    Resumes every suspended job and returns at once.

    .OUTPUTS
    Bcs.Job
    #>
    [CmdletBinding(SupportsShouldProcess, ConfirmImpact = 'Medium')]
    [OutputType('Bcs.Job')]
    param(
        [Parameter(Mandatory, Position = 0, ValueFromPipelineByPropertyName)]
        [string]$JobId,

        [switch]$Asynchronous
    )

    process {
        $params = @{ jobId = $JobId }
        if ($PSCmdlet.ShouldProcess($JobId, 'Resume BITS job')) {
            $job = Invoke-BcsRpc -Cmdlet $PSCmdlet -Method 'job.resume' -Params $params
            if ($null -eq $job) {
                return
            }
            if ($Asynchronous) {
                return ConvertTo-BcsObject -InputObject $job -TypeName 'Bcs.Job'
            }
            Complete-BcsJobTransfer -Cmdlet $PSCmdlet -JobId $JobId | ConvertTo-BcsObject -TypeName 'Bcs.Job'
        }
    }
}
