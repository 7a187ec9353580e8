function Remove-BcsSslCertificate {
    <#
    .SYNOPSIS
    Removes the TLS certificate binding of a port of the file host.

    .DESCRIPTION
    The port loses its certificate (sslcert.delete), so its https:// URL groups can no longer be
    served over TLS until a certificate is bound again. The certificate and key files, and the
    certificate store, are not touched; a key password the engine kept for the binding is deleted.

    .PARAMETER Port
    The TCP port whose binding to remove.

    .EXAMPLE
    Remove-BcsSslCertificate -Port 8443

    .EXAMPLE
    Get-BcsSslCertificate | Where-Object -Property DaysToExpiry -LT 0 | Remove-BcsSslCertificate -Confirm:$false

    Removes every expired binding without asking.

    .OUTPUTS
    None
    #>
    [CmdletBinding(SupportsShouldProcess, ConfirmImpact = 'High')]
    [OutputType([void])]
    param(
        [Parameter(Mandatory, Position = 0, ValueFromPipelineByPropertyName)]
        [ValidateRange(1, 65535)]
        [int]$Port
    )

    process {
        $params = @{ port = $Port }
        if ($PSCmdlet.ShouldProcess("port $Port", 'Remove TLS certificate binding')) {
            $null = Invoke-BcsRpc -Cmdlet $PSCmdlet -Method 'sslcert.delete' -Params $params
        }
    }
}
