function Get-BcsUploadSession {
    <#
    .SYNOPSIS
    Gets the active BITS upload sessions of the file host.

    .DESCRIPTION
    Lists the upload sessions that are receiving a file or wait for their client's Close-Session
    (upload.list): the session id, the URL group, the URL and destination file, the owner, the
    state (Receiving or Uploaded) and the bytes received of the total. Without -UrlGroup, the
    sessions of every group are listed.

    .PARAMETER UrlGroup
    Only the sessions of this URL group, for example http://+:8080/Demo/.

    .EXAMPLE
    Get-BcsUploadSession

    .EXAMPLE
    Get-BcsUrlGroup | Get-BcsUploadSession | Where-Object -Property State -EQ 'Receiving'

    Lists the uploads still in progress in every group.

    .OUTPUTS
    Bcs.UploadSession
    #>
    [CmdletBinding()]
    [OutputType('Bcs.UploadSession')]
    param(
        [Parameter(Position = 0, ValueFromPipelineByPropertyName)]
        [string]$UrlGroup
    )

    process {
        $params = @{}
        if ($PSBoundParameters.ContainsKey('UrlGroup')) {
            $params['urlGroup'] = $UrlGroup
        }
        Invoke-BcsRpc -Cmdlet $PSCmdlet -Method 'upload.list' -Params $params | ConvertTo-BcsObject -TypeName 'Bcs.UploadSession'
    }
}
