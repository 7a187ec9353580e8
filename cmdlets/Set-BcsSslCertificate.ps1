function Set-BcsSslCertificate {
    <#
    .SYNOPSIS
    Binds a TLS certificate to a port of the file host, for its HTTPS URL groups.

    .DESCRIPTION
    The certificate and its private key serve every https:// URL group on -Port (sslcert.set),
    taking the place of the port's earlier binding, if any. Relative paths are resolved against
    the current location, and the engine reads the files, so they must be readable by it.
    -ClientCertificate decides whether the listener asks clients for a certificate (Ignore, the
    default; Accept; Require), checked against the CA bundle in -TrustedCaPath. Returns the
    binding with the certificate's subject, issuer, thumbprint and validity dates.

    .PARAMETER Port
    The TCP port of the HTTPS listener, 1 to 65535.

    .PARAMETER CertificatePath
    PEM file with the certificate, optionally followed by its chain.

    .PARAMETER KeyPath
    PEM file with the certificate's private key (unencrypted).

    .PARAMETER ClientCertificate
    Whether clients must present a certificate: Ignore, Accept or Require. Sent only when given;
    the engine's default is Ignore.

    .PARAMETER TrustedCaPath
    PEM bundle of the certificate authorities whose client certificates are trusted.

    .EXAMPLE
    Set-BcsSslCertificate -Port 8443 -CertificatePath ./server.pem -KeyPath ./server.key

    .EXAMPLE
    Set-BcsSslCertificate -Port 8443 -CertificatePath ./server.pem -KeyPath ./server.key -ClientCertificate Require -TrustedCaPath ./clients-ca.pem

    Serves port 8443 only to clients whose certificate is issued by a CA in clients-ca.pem.

    .OUTPUTS
    Bcs.SslCertificate
    #>
    [CmdletBinding(SupportsShouldProcess, ConfirmImpact = 'Medium')]
    [OutputType('Bcs.SslCertificate')]
    param(
        [Parameter(Mandatory, Position = 0, ValueFromPipelineByPropertyName)]
        [ValidateRange(1, 65535)]
        [int]$Port,

        [Parameter(Mandatory, Position = 1)]
        [ValidateNotNullOrEmpty()]
        [string]$CertificatePath,

        [Parameter(Mandatory, Position = 2)]
        [ValidateNotNullOrEmpty()]
        [string]$KeyPath,

        [ValidateSet('Ignore', 'Accept', 'Require')]
        [string]$ClientCertificate,

        [ValidateNotNullOrEmpty()]
        [string]$TrustedCaPath
    )

    process {
        $resolvedCertificatePath = $PSCmdlet.GetUnresolvedProviderPathFromPSPath($CertificatePath)
        $resolvedKeyPath = $PSCmdlet.GetUnresolvedProviderPathFromPSPath($KeyPath)
        $params = @{
            port            = $Port
            certificatePath = [string]$resolvedCertificatePath
            keyPath         = [string]$resolvedKeyPath
        }
        if ($PSBoundParameters.ContainsKey('ClientCertificate')) {
            $params['clientCertificate'] = $ClientCertificate
        }
        if ($PSBoundParameters.ContainsKey('TrustedCaPath')) {
            $params['trustedCaPath'] = [string]$PSCmdlet.GetUnresolvedProviderPathFromPSPath($TrustedCaPath)
        }
        if ($PSCmdlet.ShouldProcess("port $Port", "Bind TLS certificate $resolvedCertificatePath")) {
            Invoke-BcsRpc -Cmdlet $PSCmdlet -Method 'sslcert.set' -Params $params | ConvertTo-BcsObject -TypeName 'Bcs.SslCertificate'
        }
    }
}
