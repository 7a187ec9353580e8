function Remove-BcsJob {
    <#
    .SYNOPSIS
    Cancels a BITS transfer job and deletes its temporary files.

    .DESCRIPTION
    Mirrors Remove-BitsTransfer (job.cancel): the job becomes Cancelled and disappears; files already completed are not touched, partial downloads are deleted.

    .PARAMETER JobId
    The job's GUID.

    .EXAMPLE
    Remove-BcsJob -JobId $job.JobId

    .EXAMPLE
    Get-BcsJob -Name 'Nightly*' | Remove-BcsJob -Confirm:$false

    Cancels the matching jobs without asking.

    .OUTPUTS
    None
    #>
    [CmdletBinding(SupportsShouldProcess, ConfirmImpact = 'High')]
    [OutputType([void])]
    param(
        [Parameter(Mandatory, Position = 0, ValueFromPipelineByPropertyName)]
        [string]$JobId
    )

    process {
        $params = @{ jobId = $JobId }
        if ($PSCmdlet.ShouldProcess($JobId, 'Cancel BITS job and delete its temporary files')) {
            $null = Invoke-BcsRpc -Cmdlet $PSCmdlet -Method 'job.cancel' -Params $params
        }
    }
}
