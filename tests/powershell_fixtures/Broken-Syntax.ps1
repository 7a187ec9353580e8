function Broken-Syntax {
    <#
    .SYNOPSIS
    A cmdlet with an unclosed hashtable: the parse check must name the line of the statement it swallows (13).
    #>
    [CmdletBinding()]
    [OutputType([void])]
    param(
        [string]$Name
    )

    $params = @{ name = $Name
    if ($Name) {
        Invoke-BcsRpc -Cmdlet $PSCmdlet -Method 'job.list' -Params $params
}
