function Import-BcsLatched {
    <#
    .SYNOPSIS
    The Import-BcsConfiguration defect: the default set 'Path' has a mandatory by-property-name
    parameter and no other set does, so piped YAML text latches onto 'Path' and never binds -Yaml.
    #>
    [CmdletBinding(SupportsShouldProcess, ConfirmImpact = 'High', DefaultParameterSetName = 'Path')]
    [OutputType('Bcs.Configuration')]
    param(
        [Parameter(Mandatory, Position = 0, ParameterSetName = 'Path', ValueFromPipelineByPropertyName)]
        [Alias('FullName')]
        [string]$Path,

        [Parameter(Mandatory, ParameterSetName = 'Yaml', ValueFromPipeline)]
        [string]$Yaml
    )

    process {
        if ($PSCmdlet.ParameterSetName -eq 'Path') {
            $Yaml = [System.IO.File]::ReadAllText($Path)
        }
        if ($PSCmdlet.ShouldProcess('configuration', 'Replace')) {
            Invoke-BcsRpc -Cmdlet $PSCmdlet -Method 'config.import' -Params @{ yaml = $Yaml }
        }
    }
}
