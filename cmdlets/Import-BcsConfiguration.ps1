function Import-BcsConfiguration {
    <#
    .SYNOPSIS
    Replaces the engine's whole configuration with a config.yaml file or text.

    .DESCRIPTION
    The engine validates the new configuration first (an invalid one changes nothing and the error
    names the setting at fault), then applies it live (listeners open and close as needed) and
    persists it (config.import). Returns the imported configuration.

    .PARAMETER Path
    The config.yaml file to import (as written by Export-BcsConfiguration). Binds by position 0
    and by property name (FullName), so Get-Item ./bcs-config.yaml | Import-BcsConfiguration works.

    .PARAMETER Yaml
    The configuration as YAML text. Binds from the pipeline by value, so
    Export-BcsConfiguration | Import-BcsConfiguration works.

    .EXAMPLE
    Import-BcsConfiguration -Path ./bcs-config.yaml

    .EXAMPLE
    Export-BcsConfiguration | Import-BcsConfiguration -Confirm:$false

    Re-applies the current configuration without asking.

    .OUTPUTS
    Bcs.Configuration
    #>
    [CmdletBinding(SupportsShouldProcess, ConfirmImpact = 'High', DefaultParameterSetName = 'Yaml')]
    [OutputType('Bcs.Configuration')]
    # The by-value set is the default: with 'Path' as default, piped text never reached -Yaml,
    # because PowerShell latches onto a default set whose mandatory parameter (-Path) takes
    # pipeline input by property name when no other set has such a parameter, and a string has
    # no Path or FullName property. -Path stays reachable by name, by position and by FullName.
    param(
        [Parameter(Mandatory, Position = 0, ParameterSetName = 'Path', ValueFromPipelineByPropertyName)]
        [Alias('FullName')]
        [string]$Path,

        [Parameter(Mandatory, ParameterSetName = 'Yaml', ValueFromPipeline)]
        [string]$Yaml
    )

    process {
        $target = 'YAML text'
        if ($PSCmdlet.ParameterSetName -eq 'Path') {
            $target = $PSCmdlet.GetUnresolvedProviderPathFromPSPath($Path)
            $Yaml = [System.IO.File]::ReadAllText($target, [System.Text.Encoding]::UTF8)
        }
        $params = @{ yaml = $Yaml }
        if ($PSCmdlet.ShouldProcess($target, 'Replace the whole BITS Compact Server configuration')) {
            Invoke-BcsRpc -Cmdlet $PSCmdlet -Method 'config.import' -Params $params | ConvertTo-BcsObject -TypeName 'Bcs.Configuration'
        }
    }
}
