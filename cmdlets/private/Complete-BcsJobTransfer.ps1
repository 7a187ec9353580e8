function Complete-BcsJobTransfer {
    <#
    .SYNOPSIS
    Finishes a synchronous transfer: waits with progress, then completes the job.

    .DESCRIPTION
    What Start-BitsTransfer and Resume-BitsTransfer do without -Asynchronous: wait until the job
    is transferred and complete it (the files appear at their destinations), or write the job's
    error when it fails. Stopping the pipeline (Ctrl+C) while waiting cancels the job.
    Callers invoke it inside their $PSCmdlet.ShouldProcess block.

    .PARAMETER Cmdlet
    The calling cmdlet ($PSCmdlet), through which errors are written.

    .PARAMETER JobId
    The job's GUID.

    .EXAMPLE
    Complete-BcsJobTransfer -Cmdlet $PSCmdlet -JobId $job.jobId

    .OUTPUTS
    System.Management.Automation.PSCustomObject
    #>
    [CmdletBinding()]
    [OutputType([psobject])]
    param(
        [Parameter(Mandatory)]
        [System.Management.Automation.PSCmdlet]$Cmdlet,

        [Parameter(Mandatory)]
        [string]$JobId
    )

    $finished = $false
    $job = $null
    try {
        $job = Wait-BcsJobChange -Cmdlet $Cmdlet -JobId $JobId
        $finished = $true
    }
    finally {
        if (-not $finished) {
            $null = Invoke-BcsRpc -Cmdlet $Cmdlet -Method 'job.cancel' -Params @{ jobId = $JobId }
        }
    }
    if ($null -eq $job) {
        return
    }
    if ($job.jobState -eq 'Transferred') {
        return Invoke-BcsRpc -Cmdlet $Cmdlet -Method 'job.complete' -Params @{ jobId = $JobId }
    }
    if ($job.jobState -eq 'Error') {
        $message = "Job $JobId failed."
        $hresult = '0x80004005'
        $errorId = 'Bcs.Job.TransferFailed'
        $category = 'ConnectionError'
        if ($job.errorId) {
            $errorId = [string]$job.errorId
        }
        if ($job.errorCategory) {
            $category = [string]$job.errorCategory
        }
        if ($job.errorDescription) {
            $message = "Job $JobId failed: $($job.errorDescription)"
        }
        if ($job.errorCode) {
            $hresult = [string]$job.errorCode
            $message = '{0} ({1} {2})' -f $message, $job.errorName, $hresult
        }
        $target = ConvertTo-BcsObject -InputObject $job -TypeName 'Bcs.Job'
        $record = New-BcsErrorRecord -Message $message -ErrorId $errorId -Category $category -TargetObject $target -HResult $hresult -RecommendedAction 'Fix the cause, then Resume-BcsJob, or Remove-BcsJob.'
        $Cmdlet.WriteError($record)
        return
    }
    $job
}
