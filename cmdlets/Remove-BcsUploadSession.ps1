function Remove-BcsUploadSession {
    <#
    .SYNOPSIS
    Deletes a BITS upload session and the data it received.

    .DESCRIPTION
    Cancels an upload session as the administrator (upload.delete): its partial file is deleted
    and its client's next request gets BG_E_SESSION_NOT_FOUND, so a BITS client starts that
    upload over. A file already placed at its destination is not touched.

    .PARAMETER SessionId
    The session id, a GUID in braces as Get-BcsUploadSession shows it.

    .EXAMPLE
    Remove-BcsUploadSession -SessionId '{A0FF5911-4144-45B3-BF27-27AFC8EC8A67}'

    .EXAMPLE
    Get-BcsUploadSession | Where-Object -Property Owner -EQ 'anonymous' | Remove-BcsUploadSession -Confirm:$false

    Deletes every anonymous upload session without asking.

    .OUTPUTS
    None
    #>
    [CmdletBinding(SupportsShouldProcess, ConfirmImpact = 'High')]
    [OutputType([void])]
    param(
        [Parameter(Mandatory, Position = 0, ValueFromPipelineByPropertyName)]
        [ValidateLength(1, 100)]
        [string]$SessionId
    )

    process {
        $params = @{ sessionId = $SessionId }
        if ($PSCmdlet.ShouldProcess($SessionId, 'Delete upload session and its data')) {
            $null = Invoke-BcsRpc -Cmdlet $PSCmdlet -Method 'upload.delete' -Params $params
        }
    }
}
