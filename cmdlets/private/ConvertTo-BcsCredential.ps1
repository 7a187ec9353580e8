function ConvertTo-BcsCredential {
    <#
    .SYNOPSIS
    Turns a PSCredential into the credential object of job.create and job.set.

    .DESCRIPTION
    The engine needs the password itself to answer Basic, Digest, NTLM and Negotiate challenges;
    it reaches the engine only over the local pipe, and the engine never logs or returns it.
    An empty user name means the engine's own logon.

    .PARAMETER Credential
    The user name and password.

    .PARAMETER Scheme
    The authentication scheme: Basic, Digest, NTLM or Negotiate.

    .PARAMETER Target
    Server or Proxy.

    .EXAMPLE
    ConvertTo-BcsCredential -Credential (Get-Credential) -Scheme Negotiate -Target Server

    .OUTPUTS
    System.Collections.Specialized.OrderedDictionary
    #>
    [CmdletBinding()]
    [OutputType([System.Collections.Specialized.OrderedDictionary])]
    param(
        [Parameter(Mandatory)]
        [System.Management.Automation.PSCredential]$Credential,

        [Parameter(Mandatory)]
        [ValidateSet('Basic', 'Digest', 'NTLM', 'Negotiate')]
        [string]$Scheme,

        [Parameter(Mandatory)]
        [ValidateSet('Server', 'Proxy')]
        [string]$Target
    )

    [ordered]@{
        target   = $Target
        scheme   = $Scheme
        userName = [string]$Credential.UserName
        password = [string]$Credential.GetNetworkCredential().Password
    }
}
