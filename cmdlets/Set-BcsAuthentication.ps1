function Set-BcsAuthentication {
    <#
    .SYNOPSIS
    Changes the authentication settings of the file host: keytab, NTLM user file, directory and principals map.

    .DESCRIPTION
    Only the settings given change (auth.set); the engine checks everything before anything
    changes, applies the result at once and keeps it in config.yaml. Returns the new settings
    (Bcs.Authentication, as Get-BcsAuthentication).

    Handshakes: -KeytabPath names the Kerberos keytab that Negotiate checks, -NtlmUserFile the
    NTLM accounts (DOMAIN:USER:PASSWORD lines, read by the engine on Linux; Windows checks its own
    accounts). Both must exist and be readable by the engine; an empty string restores the
    default (http.keytab in the state directory; no NTLM user file). -NtlmBackend says what checks
    NTLM on Linux: UserFile (the NTLM user file, the default) or Winbind (Samba's ntlm_auth asks
    winbindd, so the accounts of the Active Directory domain this machine joined with
    'net ads join' log on, named DOMAIN\user); the engine refuses Winbind where ntlm_auth is not
    installed. Windows ignores it (SSPI checks the domain's accounts).

    Directory: names become SIDs, for the SDDL of URLs, through an Active Directory reached over
    LDAPS (ldaps://dc:636) or StartTLS (ldap://dc:389), never plain LDAP. The directory settings
    are replaced as a whole, so -LdapUrl and the service account are always given:
    -LdapCredential (Get-Credential) gives the account and its password; -LdapBindUser gives the
    account alone and keeps the stored password, as long as the URL and the account stay the
    same. The engine binds to the directory before it accepts the settings: a wrong password, an
    untrusted certificate or an unreachable domain controller is refused (ERROR_DS_UNAVAILABLE)
    and nothing changes. The password is kept in secrets.json in the engine's state directory
    (DPAPI-protected on Windows, mode 0600 elsewhere), never in config.yaml, answers or logs;
    Get-BcsAuthentication shows only BindPasswordSet. -RemoveLdap removes the directory.

    Principals map: for sites without Active Directory, -Principal gives each user's SID and
    group SIDs as 'NAME=SID[:GROUPSID,...]' and replaces the whole map; -ClearPrincipals empties
    it. The map is asked before the directory.

    Relative paths are resolved against the current PowerShell location, because the engine
    opens the files.

    .PARAMETER KeytabPath
    The Kerberos keytab of the HTTP service (HTTP/host); empty: http.keytab in the state directory.

    .PARAMETER NtlmUserFile
    The NTLM user file (DOMAIN:USER:PASSWORD lines); empty: none.

    .PARAMETER NtlmBackend
    What checks NTLM on Linux: UserFile (default) or Winbind (ntlm_auth and winbindd of a machine
    joined to the domain).

    .PARAMETER LdapUrl
    The domain controller: ldaps://dc.corp.example:636, or ldap://dc.corp.example:389 upgraded
    with StartTLS.

    .PARAMETER LdapBindUser
    The service account of the simple bind (user@domain, DOMAIN\user or its DN), keeping the
    stored password (give -LdapCredential to set one).

    .PARAMETER LdapCredential
    The service account and its password (Get-Credential). The password reaches the engine over
    the local pipe only and is never shown again.

    .PARAMETER LdapBaseDn
    Where accounts are searched (DC=corp,DC=example); empty or omitted: the whole domain.

    .PARAMETER LdapCaPath
    PEM bundle of the CA that issued the domain controller's certificate; empty or omitted: the
    system's CAs.

    .PARAMETER LdapCacheSeconds
    How long the SIDs of a name are used before they are read again (engine default 300).

    .PARAMETER RemoveLdap
    Removes the directory settings and the stored bind password.

    .PARAMETER Principal
    The local principals map, one 'NAME=SID[:GROUPSID,...]' string per user (quote each one: a
    comma outside quotes separates array items). Replaces the whole map.

    .PARAMETER ClearPrincipals
    Empties the local principals map.

    .EXAMPLE
    Set-BcsAuthentication -KeytabPath /etc/bcs/http.keytab -NtlmUserFile /etc/bcs/ntlm-users

    .EXAMPLE
    Set-BcsAuthentication -LdapUrl 'ldaps://dc1.corp.example:636' -LdapCredential (Get-Credential -UserName 'svc-bcs@corp.example' -Message 'Directory service account') -LdapCaPath ./corp-ca.pem

    Reads SIDs from Active Directory; the engine binds with the account before it keeps it.

    .EXAMPLE
    Set-BcsAuthentication -LdapUrl 'ldaps://dc1.corp.example:636' -LdapBindUser 'svc-bcs@corp.example' -LdapCacheSeconds 60

    Changes the cache time and keeps the stored password.

    .EXAMPLE
    Set-BcsAuthentication -Principal 'CORP\alice=S-1-5-21-1-2-3-1001:S-1-5-21-1-2-3-2001', 'CORP\bob=S-1-5-21-1-2-3-1002'

    Replaces the local principals map with two users; alice belongs to one group.

    .EXAMPLE
    Set-BcsAuthentication -RemoveLdap -ClearPrincipals

    Removes the directory and the map: URLs with an SDDL then refuse everyone.

    .OUTPUTS
    Bcs.Authentication
    #>
    [CmdletBinding(SupportsShouldProcess, ConfirmImpact = 'Medium', DefaultParameterSetName = 'Settings')]
    [OutputType('Bcs.Authentication')]
    param(
        [string]$KeytabPath,

        [string]$NtlmUserFile,

        [ValidateSet('UserFile', 'Winbind')]
        [string]$NtlmBackend,

        [Parameter(Mandatory, ParameterSetName = 'Directory')]
        [Parameter(Mandatory, ParameterSetName = 'DirectoryCredential')]
        [ValidateNotNullOrEmpty()]
        [string]$LdapUrl,

        [Parameter(Mandatory, ParameterSetName = 'Directory')]
        [ValidateNotNullOrEmpty()]
        [string]$LdapBindUser,

        [Parameter(Mandatory, ParameterSetName = 'DirectoryCredential')]
        [System.Management.Automation.PSCredential]$LdapCredential,

        [Parameter(ParameterSetName = 'Directory')]
        [Parameter(ParameterSetName = 'DirectoryCredential')]
        [string]$LdapBaseDn,

        [Parameter(ParameterSetName = 'Directory')]
        [Parameter(ParameterSetName = 'DirectoryCredential')]
        [string]$LdapCaPath,

        [Parameter(ParameterSetName = 'Directory')]
        [Parameter(ParameterSetName = 'DirectoryCredential')]
        [ValidateRange(1, [int]::MaxValue)]
        [int]$LdapCacheSeconds,

        [Parameter(Mandatory, ParameterSetName = 'RemoveDirectory')]
        [switch]$RemoveLdap,

        [ValidateNotNullOrEmpty()]
        [string[]]$Principal,

        [switch]$ClearPrincipals
    )

    if ($PSBoundParameters.ContainsKey('Principal') -and $ClearPrincipals) {
        $record = New-BcsErrorRecord -Message '-Principal replaces the principals map and -ClearPrincipals empties it: give one of them.' -ErrorId 'Bcs.Authentication.ConflictingParameters' -Category 'InvalidArgument' -TargetObject $Principal -HResult '0x80070057'
        $PSCmdlet.ThrowTerminatingError($record)
    }
    $params = @{}
    if ($PSBoundParameters.ContainsKey('KeytabPath')) {
        $params['keytabPath'] = ''
        if ($KeytabPath) {
            $params['keytabPath'] = [string]$PSCmdlet.GetUnresolvedProviderPathFromPSPath($KeytabPath)
        }
    }
    if ($PSBoundParameters.ContainsKey('NtlmUserFile')) {
        $params['ntlmUserFile'] = ''
        if ($NtlmUserFile) {
            $params['ntlmUserFile'] = [string]$PSCmdlet.GetUnresolvedProviderPathFromPSPath($NtlmUserFile)
        }
    }
    if ($PSBoundParameters.ContainsKey('NtlmBackend')) {
        $params['ntlmBackend'] = $NtlmBackend
    }
    if ($RemoveLdap) {
        $params['ldap'] = @{}
    }
    elseif ($PSCmdlet.ParameterSetName -like 'Directory*') {
        $ldap = @{ url = $LdapUrl }
        if ($PSCmdlet.ParameterSetName -eq 'DirectoryCredential') {
            $ldap['bindUser'] = [string]$LdapCredential.UserName
            # The text goes only into this request (GetNetworkCredential works in 5.1 and 7).
            $ldap['bindPassword'] = [string]$LdapCredential.GetNetworkCredential().Password
        }
        else {
            $ldap['bindUser'] = $LdapBindUser
        }
        if ($PSBoundParameters.ContainsKey('LdapBaseDn')) {
            $ldap['baseDn'] = $LdapBaseDn
        }
        if ($PSBoundParameters.ContainsKey('LdapCaPath')) {
            $ldap['caPath'] = ''
            if ($LdapCaPath) {
                $ldap['caPath'] = [string]$PSCmdlet.GetUnresolvedProviderPathFromPSPath($LdapCaPath)
            }
        }
        if ($PSBoundParameters.ContainsKey('LdapCacheSeconds')) {
            $ldap['cacheSeconds'] = $LdapCacheSeconds
        }
        $params['ldap'] = $ldap
    }
    if ($PSBoundParameters.ContainsKey('Principal')) {
        $principals = @(
            foreach ($entry in $Principal) {
                ConvertTo-BcsPrincipal -Cmdlet $PSCmdlet -Principal $entry
            }
        )
        $params['principals'] = $principals
    }
    if ($ClearPrincipals) {
        $params['principals'] = @()
    }
    $changes = @($params.Keys | Sort-Object) -join ', '
    if (-not $changes) {
        $changes = 'nothing'
    }
    if ($PSCmdlet.ShouldProcess((Get-BcsPipeName), "Change authentication settings ($changes)")) {
        Invoke-BcsRpc -Cmdlet $PSCmdlet -Method 'auth.set' -Params $params | ConvertTo-BcsObject -TypeName 'Bcs.Authentication'
    }
}
