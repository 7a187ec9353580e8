function Get-BcsAuthentication {
    <#
    .SYNOPSIS
    Gets the authentication settings of the file host: keytab, NTLM user file, directory and principals map.

    .DESCRIPTION
    Returns the settings auth.get reports, as one Bcs.Authentication object:

    KeytabPath, the Kerberos keytab that Negotiate checks (empty: http.keytab in the engine's
    state directory); NtlmUserFile, the NTLM accounts on Linux (DOMAIN:USER:PASSWORD lines; empty:
    none); NtlmBackend, what checks NTLM on Linux (UserFile, or Winbind: Samba's ntlm_auth and
    winbindd, for the accounts of the domain the machine joined); Ldap, the Active Directory where names become SIDs for the SDDL checks of URLs (Url,
    BindUser, BindPasswordSet, BaseDn, CaPath, CacheSeconds; $null without a directory) and
    Directory, its URL and account in one line; Principals, the local principals map (Name, Sid,
    Groups); ResolvesSids, whether authenticated users can be mapped to SIDs at all (without it,
    URLs with an SDDL refuse everyone); Handshakes, the counters of the NTLM and Negotiate
    handshakes in progress and of authenticated connections.

    The directory's bind password is never returned: BindPasswordSet says whether one is stored.

    .EXAMPLE
    Get-BcsAuthentication

    .EXAMPLE
    (Get-BcsAuthentication).Principals | Format-Table -Property Name, Sid, Groups

    Lists the local principals map.

    .EXAMPLE
    Get-BcsAuthentication | Select-Object -ExpandProperty Ldap

    Shows the directory settings (BindPasswordSet, never the password).

    .OUTPUTS
    Bcs.Authentication
    #>
    [CmdletBinding()]
    [OutputType('Bcs.Authentication')]
    param()

    Invoke-BcsRpc -Cmdlet $PSCmdlet -Method 'auth.get' | ConvertTo-BcsObject -TypeName 'Bcs.Authentication'
}
