function Resolve-BcsJobFile {
    <#
    .SYNOPSIS
    Pairs sources and destinations into the files of a job, as Start-BitsTransfer does.

    .DESCRIPTION
    Source and Destination arrays pair one to one (a count mismatch is an error). Downloads: the
    source is the URL and the destination a local path; a missing destination means the current
    location, and a destination that is an existing directory gets the URL's file name.
    Uploads: the source is the local file and the destination the URL. Local paths are resolved
    against the current PowerShell location, because the engine runs elsewhere.

    .PARAMETER Cmdlet
    The calling cmdlet ($PSCmdlet), for path resolution and errors.

    .PARAMETER Source
    Remote URLs (downloads) or local files (uploads).

    .PARAMETER Destination
    Local paths (downloads) or remote URLs (uploads).

    .PARAMETER TransferType
    Download, Upload or UploadReply.
    .PARAMETER Sha256
    Expected SHA-256 of each downloaded file (64 hex digits), paired with Source one to one.

    .EXAMPLE
    Resolve-BcsJobFile -Cmdlet $PSCmdlet -Source 'http://server/Demo/hello.txt' -TransferType Download

    .OUTPUTS
    System.Collections.Specialized.OrderedDictionary
    #>
    [CmdletBinding()]
    [OutputType([System.Collections.Specialized.OrderedDictionary])]
    param(
        [Parameter(Mandatory)]
        [System.Management.Automation.PSCmdlet]$Cmdlet,

        [Parameter(Mandatory)]
        [string[]]$Source,

        [AllowEmptyCollection()]
        [string[]]$Destination = @(),

        [Parameter()]
        [string]$TransferType = 'Download',
        [AllowEmptyCollection()]
        [string[]]$Sha256 = @()
    )

    $isDownload = $TransferType -eq 'Download'
    if ($Destination.Count -gt 0 -and $Destination.Count -ne $Source.Count) {
        $message = "Source has $($Source.Count) items but Destination has $($Destination.Count); they pair one to one."
        $record = New-BcsErrorRecord -Message $message -ErrorId 'Bcs.Job.SourceDestinationMismatch' -Category 'InvalidArgument' -TargetObject $Destination -HResult '0x80070057'
        $Cmdlet.ThrowTerminatingError($record)
    }
    if ($Sha256.Count -gt 0 -and $Sha256.Count -ne $Source.Count) {
        $message = "Source has $($Source.Count) items but Sha256 has $($Sha256.Count); they pair one to one."
        $record = New-BcsErrorRecord -Message $message -ErrorId 'Bcs.Job.SourceSha256Mismatch' -Category 'InvalidArgument' -TargetObject $Sha256 -HResult '0x80070057'
        $Cmdlet.ThrowTerminatingError($record)
    }
    if (-not $isDownload -and $Destination.Count -eq 0) {
        $record = New-BcsErrorRecord -Message 'Uploads need -Destination: the URL to upload to.' -ErrorId 'Bcs.Job.DestinationRequired' -Category 'InvalidArgument' -TargetObject $Source -HResult '0x80070057'
        $Cmdlet.ThrowTerminatingError($record)
    }
    for ($index = 0; $index -lt $Source.Count; $index++) {
        if ($isDownload) {
            $remote = $Source[$index]
            $leaf = [System.Uri]::UnescapeDataString(([System.Uri]$remote).Segments[-1])
            $local = '.'
            if ($Destination.Count -gt 0) {
                $local = $Destination[$index]
            }
            $local = $Cmdlet.GetUnresolvedProviderPathFromPSPath($local)
            if (Test-Path -LiteralPath $local -PathType Container) {
                $local = Join-Path -Path $local -ChildPath $leaf
            }
        }
        else {
            $remote = $Destination[$index]
            $local = $Cmdlet.GetUnresolvedProviderPathFromPSPath($Source[$index])
        }
        $digest = ''
        if ($Sha256.Count -gt 0) {
            $digest = $Sha256[$index]
        }
        [ordered]@{
            remoteUrl = [string]$remote
            localPath = [string]$local
            sha256    = [string]$digest
        }
    }
}
