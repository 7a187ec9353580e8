function Set-BcsAuthenticationDrift {
    <#
    .SYNOPSIS
    A drifted copy of Set-BcsAuthentication: the fields of its ldap object disagree with auth.set.

    .DESCRIPTION
    The top-level keys are right; inside the ldap object one field is misspelt (baseDN), one is
    unknown (bindPwd), one has the wrong JSON type (cacheSeconds as a string) and the required
    bindUser comes only from an optional parameter. The contract check must report each of them,
    and the engine must refuse the object with invalid params.

    .PARAMETER LdapUrl
    The directory.

    .PARAMETER LdapBindUser
    The account.

    .PARAMETER LdapBindPassword
    Its password.

    .PARAMETER LdapBaseDn
    Where to search.

    .PARAMETER LdapCacheSeconds
    Cache time.

    .EXAMPLE
    Set-BcsAuthenticationDrift -LdapUrl 'ldaps://dc:636' -LdapBindUser 'svc@corp.example'

    .OUTPUTS
    Bcs.Authentication
    #>
    [CmdletBinding(SupportsShouldProcess, ConfirmImpact = 'Medium')]
    [OutputType('Bcs.Authentication')]
    param(
        [Parameter(Mandatory)]
        [string]$LdapUrl,

        [string]$LdapBindUser,

        [System.Security.SecureString]$LdapBindPassword,

        [string]$LdapBaseDn,

        [int]$LdapCacheSeconds
    )

    $ldap = @{ url = $LdapUrl }
    if ($PSBoundParameters.ContainsKey('LdapBindUser')) {
        $ldap['bindUser'] = $LdapBindUser
    }
    if ($PSBoundParameters.ContainsKey('LdapBindPassword')) {
        $ldap['bindPwd'] = [string][System.Net.NetworkCredential]::new('', $LdapBindPassword).Password
    }
    if ($PSBoundParameters.ContainsKey('LdapBaseDn')) {
        $ldap['baseDN'] = $LdapBaseDn
    }
    if ($PSBoundParameters.ContainsKey('LdapCacheSeconds')) {
        $ldap['cacheSeconds'] = [string]$LdapCacheSeconds
    }
    $params = @{ ldap = $ldap }
    if ($PSCmdlet.ShouldProcess('engine', 'Change authentication settings')) {
        Invoke-BcsRpc -Cmdlet $PSCmdlet -Method 'auth.set' -Params $params
    }
}
