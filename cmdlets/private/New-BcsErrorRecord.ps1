function New-BcsErrorRecord {
    <#
    .SYNOPSIS
    Builds an ErrorRecord for an engine error or for an engine that cannot be reached.

    .DESCRIPTION
    The exception is a COMException carrying the BITS HRESULT, as the BitsTransfer cmdlets report
    errors; the FullyQualifiedErrorId is Bcs.<Noun>.<Reason> and the category and target come from
    the JSON-RPC error.data of the engine.

    .PARAMETER Message
    The error message.

    .PARAMETER ErrorId
    The FullyQualifiedErrorId, Bcs.<Noun>.<Reason>.

    .PARAMETER Category
    The name of a System.Management.Automation.ErrorCategory value.

    .PARAMETER TargetObject
    The object the error is about (a job id, a URL group).

    .PARAMETER HResult
    The HRESULT as text, 0x80200002.

    .PARAMETER RecommendedAction
    What the user can do about it.

    .EXAMPLE
    New-BcsErrorRecord -Message 'Job not found.' -ErrorId 'Bcs.Job.NotFound' -Category 'ObjectNotFound' -HResult '0x80200001'

    .OUTPUTS
    System.Management.Automation.ErrorRecord
    #>
    [CmdletBinding()]
    [OutputType([System.Management.Automation.ErrorRecord])]
    param(
        [Parameter(Mandatory)]
        [string]$Message,

        [string]$ErrorId = 'Bcs.Server.Failed',

        [Parameter()]
        [string]$Category = 'NotSpecified',

        [AllowNull()]
        [object]$TargetObject,

        [string]$HResult = '0x80004005',

        [Parameter()]
        [string]$RecommendedAction
    )

    $code = -2147467259
    if ($HResult -match '^0x[0-9A-Fa-f]{1,8}$') {
        $code = [System.Convert]::ToInt32($HResult.Substring(2), 16)
    }
    $exception = New-Object -TypeName System.Runtime.InteropServices.COMException -ArgumentList $Message, $code
    $errorCategory = [System.Management.Automation.ErrorCategory]::NotSpecified
    if ($Category -and [System.Enum]::IsDefined([System.Management.Automation.ErrorCategory], $Category)) {
        $errorCategory = [System.Management.Automation.ErrorCategory]$Category
    }
    if (-not $ErrorId) {
        $ErrorId = 'Bcs.Server.Failed'
    }
    $record = New-Object -TypeName System.Management.Automation.ErrorRecord -ArgumentList $exception, $ErrorId, $errorCategory, $TargetObject
    $record.ErrorDetails = New-Object -TypeName System.Management.Automation.ErrorDetails -ArgumentList $Message
    if ($RecommendedAction) {
        $record.ErrorDetails.RecommendedAction = $RecommendedAction
    }
    $record
}
