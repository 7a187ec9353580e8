function Add-BcsFile {
    <#
    .SYNOPSIS
    Adds files to a download job.

    .DESCRIPTION
    Mirrors Add-BitsFile: Source URLs and Destination paths pair one to one (a missing
    destination means the current location; a directory keeps the URL's file name). The job must
    be a download job that is not final (job.addFile). Returns the job.

    .PARAMETER JobId
    The job's GUID.

    .PARAMETER Source
    URLs of the remote files.

    .PARAMETER Destination
    Local paths of the files.

    .PARAMETER Sha256
    Expected SHA-256 of each file (64 hex digits), paired with Source one to one. A file with other
    content puts the job in Error (CRYPT_E_HASH_VALUE) and is never committed.

    .EXAMPLE
    Add-BcsFile -JobId $job.JobId -Source 'http://server:8080/Demo/b.iso' -Destination D:\Images\

    .EXAMPLE
    Start-BcsJob -Source $first -Suspended | Add-BcsFile -Source $second | Resume-BcsJob

    Builds a job of two files, then runs it.

    .OUTPUTS
    Bcs.Job
    #>
    [CmdletBinding(SupportsShouldProcess, ConfirmImpact = 'Medium')]
    [OutputType('Bcs.Job')]
    param(
        [Parameter(Mandatory, Position = 0, ValueFromPipelineByPropertyName)]
        [string]$JobId,

        [Parameter(Mandatory, Position = 1)]
        [string[]]$Source,

        [Parameter(Position = 2)]
        [string[]]$Destination,

        [string[]]$Sha256
    )

    process {
        $files = @(Resolve-BcsJobFile -Cmdlet $PSCmdlet -Source $Source -Destination $Destination -TransferType 'Download' -Sha256 $Sha256)
        $job = $null
        foreach ($file in $files) {
            $params = @{
                jobId     = $JobId
                remoteUrl = [string]$file.remoteUrl
                localPath = [string]$file.localPath
                sha256    = [string]$file.sha256
            }
            if ($PSCmdlet.ShouldProcess($JobId, "Add $($file.remoteUrl) -> $($file.localPath)")) {
                $job = Invoke-BcsRpc -Cmdlet $PSCmdlet -Method 'job.addFile' -Params $params
            }
        }
        if ($null -ne $job) {
            ConvertTo-BcsObject -InputObject $job -TypeName 'Bcs.Job'
        }
    }
}
