function Wait-BcsJobChange {
    <#
    .SYNOPSIS
    Long-polls a job (job.wait with changeCount) until it stops transferring, showing progress.

    .DESCRIPTION
    Each job.wait call returns as soon as the job's state or progress changed since the
    changeCount last seen (or after at most 5 s, so Ctrl+C is honoured soon), so progress is
    live without busy polling.
    Returns the job (as the engine sends it) once its state is one of -UntilState, or writes a
    Bcs.Job.WaitTimeout error and returns the job when -Timeout expires first. Returns nothing
    when the engine answered an error (already written).

    .PARAMETER Cmdlet
    The calling cmdlet ($PSCmdlet), through which errors are written.

    .PARAMETER JobId
    The job's GUID.

    .PARAMETER Timeout
    Seconds to wait in all; 0 waits without limit.

    .PARAMETER UntilState
    Job states that end the wait.

    .EXAMPLE
    Wait-BcsJobChange -Cmdlet $PSCmdlet -JobId $job.JobId -Timeout 60

    .OUTPUTS
    System.Management.Automation.PSCustomObject
    #>
    [CmdletBinding()]
    [OutputType([psobject])]
    param(
        [Parameter(Mandatory)]
        [System.Management.Automation.PSCmdlet]$Cmdlet,

        [Parameter(Mandatory)]
        [string]$JobId,

        [int]$Timeout = 0,

        [Parameter()]
        [string[]]$UntilState = @('Transferred', 'Error', 'Suspended', 'Acknowledged', 'Cancelled')
    )

    $activity = "BITS Compact Server job $JobId"
    $changeCount = 0
    $deadline = [System.DateTime]::MaxValue
    if ($Timeout -gt 0) {
        $deadline = [System.DateTime]::UtcNow.AddSeconds($Timeout)
    }
    $job = $null
    try {
        while ($true) {
            $remaining = ($deadline - [System.DateTime]::UtcNow).TotalSeconds
            if ($remaining -le 0) {
                $record = New-BcsErrorRecord -Message "Job $JobId is still $($job.jobState) after $Timeout s." -ErrorId 'Bcs.Job.WaitTimeout' -Category 'OperationTimeout' -TargetObject $JobId -HResult '0x800705B4'
                $Cmdlet.WriteError($record)
                return $job
            }
            $waitParams = @{
                jobId       = $JobId
                changeCount = [long]$changeCount
                timeout     = [double][System.Math]::Min(5, [System.Math]::Ceiling($remaining))
            }
            $job = Invoke-BcsRpc -Cmdlet $Cmdlet -Method 'job.wait' -Params $waitParams
            if ($null -eq $job) {
                return
            }
            $changeCount = [long]$job.changeCount
            if ($job.displayName) {
                $activity = "BITS Compact Server job '$($job.displayName)'"
            }
            $size = 'size not known yet'
            $percent = -1
            if ($job.bytesTotal -ge 0) {
                $size = '{0:N0} bytes' -f $job.bytesTotal
            }
            $status = '{0}: {1:N0} of {2}, {3} of {4} files' -f $job.jobState, $job.bytesTransferred, $size, $job.filesTransferred, $job.filesTotal
            if ($job.bytesTotal -gt 0 -and $job.bytesTransferred -ge 0) {
                $percent = [int][System.Math]::Min(100, [System.Math]::Floor(100.0 * $job.bytesTransferred / $job.bytesTotal))
            }
            Write-Progress -Activity $activity -Status $status -PercentComplete $percent
            if ($UntilState -contains [string]$job.jobState) {
                return $job
            }
        }
    }
    finally {
        Write-Progress -Activity $activity -Completed
    }
}
