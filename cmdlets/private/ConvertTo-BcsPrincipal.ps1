function ConvertTo-BcsPrincipal {
    <#
    .SYNOPSIS
    Turns 'NAME=SID[:GROUPSID,...]' into a principal of auth.set's local principals map.

    .DESCRIPTION
    The form bcs auth set --principal takes too: the account name (DOMAIN\user, user@dns.domain
    or user), '=', the user's SID, then optionally ':' and the SIDs of every group it belongs to
    (nested groups included), separated by commas. Spaces around each part are trimmed. Account
    names cannot hold '=' or ':' (Active Directory refuses both in sAMAccountName), so the first
    '=' and the first ':' after it split the text. The engine checks the name and the SIDs; this
    only splits them, and stops with Bcs.Authentication.InvalidPrincipal when the text has no
    name or no SID.

    .PARAMETER Cmdlet
    The calling cmdlet ($PSCmdlet), through which the error is thrown.

    .PARAMETER Principal
    One principal as text, such as 'CORP\alice=S-1-5-21-1-2-3-1001:S-1-5-21-1-2-3-2001'.

    .EXAMPLE
    ConvertTo-BcsPrincipal -Cmdlet $PSCmdlet -Principal 'CORP\alice=S-1-5-21-1-2-3-1001:S-1-5-21-1-2-3-2001,S-1-5-21-1-2-3-2002'

    Returns name CORP\alice, sid S-1-5-21-1-2-3-1001 and two group SIDs.

    .OUTPUTS
    System.Collections.Specialized.OrderedDictionary
    #>
    [CmdletBinding()]
    [OutputType([System.Collections.Specialized.OrderedDictionary])]
    param(
        [Parameter(Mandatory)]
        [System.Management.Automation.PSCmdlet]$Cmdlet,

        [Parameter(Mandatory)]
        [AllowEmptyString()]
        [string]$Principal
    )

    $equals = $Principal.IndexOf([char]'=')
    $name = ''
    $rest = ''
    if ($equals -ge 0) {
        $name = $Principal.Substring(0, $equals).Trim()
        $rest = $Principal.Substring($equals + 1)
    }
    $groupText = ''
    $colon = $rest.IndexOf([char]':')
    if ($colon -ge 0) {
        $groupText = $rest.Substring($colon + 1)
        $rest = $rest.Substring(0, $colon)
    }
    $sid = $rest.Trim()
    if (-not $name -or -not $sid) {
        $message = "Principal '$Principal' is not of the form NAME=SID[:GROUPSID,...] (such as 'CORP\alice=S-1-5-21-1-2-3-1001:S-1-5-21-1-2-3-2001')."
        $record = New-BcsErrorRecord -Message $message -ErrorId 'Bcs.Authentication.InvalidPrincipal' -Category 'InvalidArgument' -TargetObject $Principal -HResult '0x80070057'
        $Cmdlet.ThrowTerminatingError($record)
    }
    $groups = [string[]]@(
        foreach ($group in $groupText.Split(',')) {
            if ($group.Trim()) {
                $group.Trim()
            }
        }
    )
    [ordered]@{
        name   = [string]$name
        sid    = [string]$sid
        groups = $groups
    }
}
