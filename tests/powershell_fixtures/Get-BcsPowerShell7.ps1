function Get-BcsPowerShell7 {
    <#
    .SYNOPSIS
    Runs in PowerShell 7 only: one construct of the Windows PowerShell 5.1 denylist per line.
    #>
    [CmdletBinding()]
    [OutputType([psobject])]
    param(
        [string]$Text
    )

    process {
        $name = $Text ?? 'none'
        $name ??= 'none'
        $kind = $Text ? 'text' : 'empty'
        Test-Path -LiteralPath $name && Test-Path -LiteralPath $kind
        if ($IsWindows -or $IsLinux -or $IsMacOS -or $IsCoreCLR) {
            $table = ConvertFrom-Json -InputObject $Text -AsHashtable
        }
        $deep = ConvertFrom-Json -InputObject $Text -Depth 64
        $many = ConvertFrom-Json -InputObject $Text -NoEnumerate
        $json = ConvertTo-Json -InputObject @($table) -AsArray -EnumsAsStrings -Depth 4 -Compress
        1..3 | ForEach-Object -Parallel { $_ }
        $file = Join-Path -Path 'a' -ChildPath 'b' -AdditionalChildPath 'c'
        $other = Join-Path 'a' 'b' 'c'
        $web = Invoke-WebRequest -Uri 'http://localhost/' -SkipHeaderValidation -SkipCertificateCheck
        $rest = Invoke-RestMethod -Uri 'http://localhost/' -SkipHeaderVal -SkipCertificateCheck
        $bytes = Get-Content -LiteralPath $file -AsByteStream
        Set-Content -LiteralPath $file -Value $bytes -AsByteStream
        Add-Content -LiteralPath $file -Value $bytes -AsByteStream
        $now = Get-Date -AsUTC
        Out-File -FilePath $file -InputObject $json -Encoding utf8NoBOM
        Out-File -FilePath $file -InputObject $json -Encoding:utf8BOM
        Get-Error
        Test-Json -Json $json
        $joined = $Text | Join-String -Separator ','
        $up = Get-Uptime
        Remove-Alias -Name 'x'
        $upper = $Text -replace '\w', { $_.Value.ToUpper() }
        [pscustomobject]@{ Deep = $deep; Many = $many; Web = $web; Rest = $rest; Now = $now; Joined = $joined; Up = $up; Upper = $upper; Other = $other }
    }
    clean {
        $name = $null
    }
}
