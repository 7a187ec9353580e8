function Remove-BcsBroken {
    [CmdletBinding()]
    param(
        [string]$JobId,

        [string]$Undocumented
    )

    Write-Host "removing $JobId"
    gci | % { $_.Name }
    Invoke-BcsRpc -Cmdlet $PSCmdlet -Method 'job.cancel' -Params @{ jobId = $JobId }
}
