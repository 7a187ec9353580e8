function Send-BcsJson {
    <#
    .SYNOPSIS
    ConvertTo-Json without -Depth (line 13: nested objects past depth 2 become type names) and without -Compress (line 12: a multi-line request breaks the one-line pipe protocol).
    #>
    [CmdletBinding()]
    [OutputType([string])]
    param(
        [hashtable]$Request
    )

    $line = ConvertTo-Json -InputObject $Request -Compress
    $pretty = $Request | ConvertTo-Json -Depth 16
    $line + $pretty
}
