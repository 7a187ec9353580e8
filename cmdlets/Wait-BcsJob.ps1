function Wait-BcsJob {
    <#
    .SYNOPSIS
    Waits until a BITS transfer job is transferred, fails or is suspended, showing its progress.

    .DESCRIPTION
    Long-polls the engine (job.wait with the job's changeCount), so the progress bar follows the
    transfer without busy polling. Returns the job once it is Transferred, Error, Suspended,
    Acknowledged or Cancelled; transient errors are retried by the engine and waited through.
    With -Timeout, a job still running when the time is up is returned with a
    Bcs.Job.WaitTimeout error. Wait-BcsJob never completes a job: pipe it to Complete-BcsJob.

    .PARAMETER JobId
    The job's GUID.

    .PARAMETER Timeout
    Seconds to wait at most; 0 (default) waits without limit.

    .EXAMPLE
    Wait-BcsJob -JobId $job.JobId -Timeout 600

    .EXAMPLE
    Start-BcsJob -Source $url -Asynchronous | Wait-BcsJob | Complete-BcsJob

    .OUTPUTS
    Bcs.Job
    #>
    [CmdletBinding()]
    [OutputType('Bcs.Job')]
    param(
        [Parameter(Mandatory, Position = 0, ValueFromPipelineByPropertyName)]
        [string]$JobId,

        [ValidateRange(0, [int]::MaxValue)]
        [int]$Timeout = 0
    )

    process {
        Wait-BcsJobChange -Cmdlet $PSCmdlet -JobId $JobId -Timeout $Timeout | ConvertTo-BcsObject -TypeName 'Bcs.Job'
    }
}
