function Get-BcsSslCertificate {
    <#
    .SYNOPSIS
    Gets the TLS certificates bound to ports of the file host.

    .DESCRIPTION
    Without -Port returns every binding (sslcert.list); with it, the binding of that port
    (sslcert.get), writing an error when the port has none. Each binding shows where the
    certificate comes from (Source: a file path, or Cert:\<StoreLocation>\<StoreName>\<thumbprint>
    for the certificate store), whether a key password is stored (KeyPasswordSet; the password
    itself is never returned), the certificate's subject, issuer, thumbprint, validity (NotBefore
    and NotAfter as UTC [datetime] values, DaysToExpiry), the client-certificate mode and whether
    the HTTPS listener is up.

    .PARAMETER Port
    The TCP port whose binding to get.

    .EXAMPLE
    Get-BcsSslCertificate

    .EXAMPLE
    Get-BcsSslCertificate -Port 8443 | Format-List -Property *

    Shows every property of the binding on port 8443.

    .EXAMPLE
    Get-BcsSslCertificate | Where-Object -Property DaysToExpiry -LT 30

    Lists the certificates that expire within 30 days.

    .OUTPUTS
    Bcs.SslCertificate
    #>
    [CmdletBinding()]
    [OutputType('Bcs.SslCertificate')]
    param(
        [Parameter(Position = 0, ValueFromPipelineByPropertyName)]
        [ValidateRange(1, 65535)]
        [int]$Port
    )

    process {
        if (-not $PSBoundParameters.ContainsKey('Port')) {
            Invoke-BcsRpc -Cmdlet $PSCmdlet -Method 'sslcert.list' | ConvertTo-BcsObject -TypeName 'Bcs.SslCertificate'
            return
        }
        Invoke-BcsRpc -Cmdlet $PSCmdlet -Method 'sslcert.get' -Params @{ port = $Port } | ConvertTo-BcsObject -TypeName 'Bcs.SslCertificate'
    }
}
