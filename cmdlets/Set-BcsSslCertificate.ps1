function Set-BcsSslCertificate {
    <#
    .SYNOPSIS
    Binds a TLS certificate to a port of the file host, for its HTTPS URL groups.

    .DESCRIPTION
    The certificate and its private key serve every https:// URL group on -Port (sslcert.set),
    taking the place of the port's earlier binding, if any. The certificate comes from files or
    from the certificate store:

    Files: -CertificatePath names a PEM certificate (a chain may follow) with -KeyPath naming its
    PEM private key, or a PKCS#12 (.pfx) file that holds the key itself. -KeyPassword opens an
    encrypted key or the PFX file; the engine keeps it in secrets.json in its state directory
    (protected with DPAPI on Windows, file mode 0600 elsewhere) and never returns it
    (KeyPasswordSet says whether one is set). Relative paths are resolved against the current
    location, and the engine reads the files, so they must be readable by it.

    Store: -Thumbprint names a certificate in -StoreLocation\-StoreName (default My), read by the
    engine through .NET; its private key must be exportable. On Linux and macOS only CurrentUser
    stores of the engine's user exist.

    -ClientCertificate decides whether the listener asks clients for a certificate (Ignore, the
    default; Accept; Require), checked against the CA bundle in -TrustedCaPath. Returns the
    binding with the certificate's subject, issuer, thumbprint and validity dates.

    .PARAMETER Port
    The TCP port of the HTTPS listener, 1 to 65535.

    .PARAMETER CertificatePath
    PEM file with the certificate, optionally followed by its chain; or a PKCS#12 (.pfx) file.

    .PARAMETER KeyPath
    PEM file with the certificate's private key. Omit it for a PFX file, or when the PEM file
    given in -CertificatePath holds the key too.

    .PARAMETER KeyPassword
    Password of an encrypted PEM key or of the PFX file, as a SecureString
    (Read-Host -AsSecureString). Stored by the engine in secrets.json, never in its configuration
    file, its log or its answers.

    .PARAMETER Thumbprint
    SHA-1 thumbprint of a certificate in the certificate store (40 hexadecimal digits; spaces, as
    the certificate dialog shows them, are removed).

    .PARAMETER StoreLocation
    CurrentUser or LocalMachine. Sent only when given; the engine's default is LocalMachine on
    Windows (where netsh http add sslcert reads certificates) and CurrentUser elsewhere.

    .PARAMETER StoreName
    Name of the store, such as My (the engine's default) or WebHosting.

    .PARAMETER ClientCertificate
    Whether clients must present a certificate: Ignore, Accept or Require. Sent only when given;
    the engine's default is Ignore.

    .PARAMETER TrustedCaPath
    PEM bundle of the certificate authorities whose client certificates are trusted.

    .EXAMPLE
    Set-BcsSslCertificate -Port 8443 -CertificatePath ./server.pem -KeyPath ./server.key

    .EXAMPLE
    Set-BcsSslCertificate -Port 8443 -CertificatePath ./server.pfx -KeyPassword (Read-Host -Prompt 'PFX password' -AsSecureString)

    Binds the certificate and key of a PFX file; the password is kept by the engine.

    .EXAMPLE
    Set-BcsSslCertificate -Port 443 -Thumbprint 3A2B7C1D9E8F00112233445566778899AABBCCDD -StoreLocation LocalMachine

    Binds a certificate imported with Import-PfxCertificate -Exportable into LocalMachine\My.

    .EXAMPLE
    Set-BcsSslCertificate -Port 8443 -CertificatePath ./server.pem -KeyPath ./server.key -ClientCertificate Require -TrustedCaPath ./clients-ca.pem

    Serves port 8443 only to clients whose certificate is issued by a CA in clients-ca.pem.

    .OUTPUTS
    Bcs.SslCertificate
    #>
    [CmdletBinding(SupportsShouldProcess, ConfirmImpact = 'Medium', DefaultParameterSetName = 'Files')]
    [OutputType('Bcs.SslCertificate')]
    param(
        [Parameter(Mandatory, Position = 0, ValueFromPipelineByPropertyName)]
        [ValidateRange(1, 65535)]
        [int]$Port,

        [Parameter(Mandatory, Position = 1, ParameterSetName = 'Files')]
        [ValidateNotNullOrEmpty()]
        [string]$CertificatePath,

        [Parameter(Position = 2, ParameterSetName = 'Files')]
        [ValidateNotNullOrEmpty()]
        [string]$KeyPath,

        [Parameter(ParameterSetName = 'Files')]
        [System.Security.SecureString]$KeyPassword,

        [Parameter(Mandatory, ParameterSetName = 'Store')]
        [ValidateNotNullOrEmpty()]
        [string]$Thumbprint,

        [Parameter(ParameterSetName = 'Store')]
        [ValidateSet('CurrentUser', 'LocalMachine')]
        [string]$StoreLocation,

        [Parameter(ParameterSetName = 'Store')]
        [ValidateNotNullOrEmpty()]
        [string]$StoreName,

        [ValidateSet('Ignore', 'Accept', 'Require')]
        [string]$ClientCertificate,

        [ValidateNotNullOrEmpty()]
        [string]$TrustedCaPath
    )

    process {
        $params = @{ port = $Port }
        if ($PSCmdlet.ParameterSetName -eq 'Store') {
            $source = "certificate $Thumbprint"
            $params['thumbprint'] = $Thumbprint
            if ($PSBoundParameters.ContainsKey('StoreLocation')) {
                $params['storeLocation'] = $StoreLocation
            }
            if ($PSBoundParameters.ContainsKey('StoreName')) {
                $params['storeName'] = $StoreName
            }
        }
        else {
            $resolvedCertificatePath = $PSCmdlet.GetUnresolvedProviderPathFromPSPath($CertificatePath)
            $source = "TLS certificate $resolvedCertificatePath"
            $params['certificatePath'] = [string]$resolvedCertificatePath
            if ($PSBoundParameters.ContainsKey('KeyPath')) {
                $params['keyPath'] = [string]$PSCmdlet.GetUnresolvedProviderPathFromPSPath($KeyPath)
            }
            if ($PSBoundParameters.ContainsKey('KeyPassword')) {
                # Works in Windows PowerShell 5.1 and PowerShell 7 alike (ConvertFrom-SecureString
                # -AsPlainText is 7 only); the text goes only into this request.
                $plainPassword = [System.Net.NetworkCredential]::new('', $KeyPassword).Password
                $params['keyPassword'] = [string]$plainPassword
            }
        }
        if ($PSBoundParameters.ContainsKey('ClientCertificate')) {
            $params['clientCertificate'] = $ClientCertificate
        }
        if ($PSBoundParameters.ContainsKey('TrustedCaPath')) {
            $params['trustedCaPath'] = [string]$PSCmdlet.GetUnresolvedProviderPathFromPSPath($TrustedCaPath)
        }
        if ($PSCmdlet.ShouldProcess("port $Port", "Bind $source")) {
            Invoke-BcsRpc -Cmdlet $PSCmdlet -Method 'sslcert.set' -Params $params | ConvertTo-BcsObject -TypeName 'Bcs.SslCertificate'
        }
    }
}
