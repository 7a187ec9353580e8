function ConvertTo-BcsObject {
    <#
    .SYNOPSIS
    Turns an engine result (camelCase JSON) into a typed object with PascalCase properties.

    .DESCRIPTION
    Nested objects and arrays are converted too; only the outer object gets the PSTypeName
    (Bcs.Job, Bcs.UrlGroup, Bcs.Url, Bcs.Server, Bcs.SslCertificate, ...) that selects the default
    table view.

    Dates become UTC [datetime] values at every depth (CreationTime, ModificationTime,
    TransferCompletionTime, StartTime, NotBefore, NotAfter, ...): the test is on the value (a
    string of the form of $script:BcsDateTimePattern), not on the property name. PowerShell 7's
    ConvertFrom-Json already turns an ISO-8601 string into [datetime] (of any Kind) while Windows
    PowerShell 5.1 keeps the string, so without this one property would have two types depending
    on the edition. A value that is not an object, an array or a date is returned as it is.

    .PARAMETER InputObject
    One result object, as ConvertFrom-Json returns it (or one value inside it).

    .PARAMETER TypeName
    The PSTypeName of the outer object.

    .PARAMETER DefaultProperty
    Properties to add when the engine's object lacks them (PascalCase names).

    .EXAMPLE
    Invoke-BcsRpc -Cmdlet $PSCmdlet -Method 'server.status' | ConvertTo-BcsObject -TypeName 'Bcs.Server'

    .OUTPUTS
    System.Management.Automation.PSCustomObject
    #>
    [CmdletBinding()]
    [OutputType([psobject])]
    param(
        [Parameter(Mandatory, ValueFromPipeline)]
        [AllowNull()]
        [object]$InputObject,

        [string]$TypeName,

        [hashtable]$DefaultProperty = @{}
    )

    process {
        if ($null -eq $InputObject) {
            return
        }
        if ($InputObject -is [System.DateTime]) {
            if ($InputObject.Kind -eq [System.DateTimeKind]::Local) {
                return $InputObject.ToUniversalTime()
            }
            return [System.DateTime]::SpecifyKind($InputObject, [System.DateTimeKind]::Utc)
        }
        if ($InputObject -is [string] -and $InputObject -match $script:BcsDateTimePattern) {
            $styles = [System.Globalization.DateTimeStyles]::AssumeUniversal -bor [System.Globalization.DateTimeStyles]::AdjustToUniversal
            return [System.DateTime]::Parse($InputObject, [System.Globalization.CultureInfo]::InvariantCulture, $styles)
        }
        if ($InputObject -isnot [System.Management.Automation.PSCustomObject]) {
            return $InputObject
        }
        $properties = [ordered]@{}
        if ($TypeName) {
            $properties['PSTypeName'] = $TypeName
        }
        foreach ($property in $InputObject.PSObject.Properties) {
            $name = $property.Name.Substring(0, 1).ToUpperInvariant() + $property.Name.Substring(1)
            $value = $property.Value
            if ($value -is [System.Management.Automation.PSCustomObject] -or $value -is [System.DateTime] -or ($value -is [string] -and $value -match $script:BcsDateTimePattern)) {
                $value = ConvertTo-BcsObject -InputObject $value
            }
            elseif ($value -is [System.Array]) {
                $value = @(foreach ($item in $value) { ConvertTo-BcsObject -InputObject $item })
            }
            $properties[$name] = $value
        }
        foreach ($key in $DefaultProperty.Keys) {
            if (-not $properties.Contains($key)) {
                $properties[$key] = $DefaultProperty[$key]
            }
        }
        [pscustomobject]$properties
    }
}
