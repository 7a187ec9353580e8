function Set-BcsTypo {
    <#
    .SYNOPSIS
    Runs nowhere: a misspelt variable, ContainsKey name and helper parameter, an unused parameter, a positional argument.
    #>
    [CmdletBinding(SupportsShouldProcess)]
    [OutputType([void])]
    param(
        [Parameter(Mandatory, ValueFromPipelineByPropertyName)]
        [string]$JobId,

        [string]$Description,

        [int]$Forgotten
    )

    process {
        $params = @{ jobId = $JobId }
        if ($PSBoundParameters.ContainsKey('Descripton')) {
            $params['description'] = $Description
        }
        if ($PSCmdlet.ShouldProcess($JobId, 'Change')) {
            Invoke-BcsRpc -Cmdlet $PSCmdlet -Method 'job.set' -Params $parmas
            Join-Path $JobId -ChildPath 'x'
            $JobId | Wait-BcsJob -Timeot 5
            New-BcsErrorRecord -Mesage 'misspelt'
        }
    }
}
