function Invoke-BcsRpc {
    <#
    .SYNOPSIS
    Calls one JSON-RPC method of the engine over its named pipe and returns the result.

    .DESCRIPTION
    Connects a System.IO.Pipes.NamedPipeClientStream to the engine's pipe (on Linux and macOS .NET
    maps the name to the Unix socket $TMPDIR/CoreFxPipe_<name> the engine listens on), writes the
    request as one UTF-8 JSON line (no BOM) and reads one answer line. Connect-BcsPipe first checks
    that the engine serves the pipe, not another user (Bcs.Server.UntrustedEngine, nothing sent).

    A result is written to the pipeline (the items of an array one by one, nothing for null).
    An error answered by the engine becomes an ErrorRecord written through the calling cmdlet
    (FullyQualifiedErrorId Bcs.<Noun>.<Reason>, category and target from error.data), so
    -ErrorAction of the caller applies. When no engine answers on the pipe the calling cmdlet
    stops with a terminating error that says how to start one.

    .PARAMETER Cmdlet
    The calling cmdlet ($PSCmdlet): errors are written and thrown through it.

    .PARAMETER Method
    The JSON-RPC method, as listed by rpc.describe (urlgroup.create).

    .PARAMETER Params
    The method's parameters, camelCase keys as rpc.describe declares them.

    .PARAMETER ConnectTimeout
    Milliseconds to wait for the pipe (default: the module setting ConnectTimeoutMilliseconds).

    .EXAMPLE
    Invoke-BcsRpc -Cmdlet $PSCmdlet -Method 'urlgroup.get' -Params @{ urlGroup = 'http://+:8080/Demo/' }

    .OUTPUTS
    System.Management.Automation.PSCustomObject
    #>
    [CmdletBinding()]
    [OutputType([psobject])]
    param(
        [Parameter(Mandatory)]
        [System.Management.Automation.PSCmdlet]$Cmdlet,

        [Parameter(Mandatory)]
        [string]$Method,

        [System.Collections.IDictionary]$Params = @{},

        [Parameter()]
        [int]$ConnectTimeout = 0
    )

    if ($ConnectTimeout -le 0) {
        $ConnectTimeout = [int]$script:BcsSettings.ConnectTimeoutMilliseconds
    }
    $pipeName = Get-BcsPipeName
    $script:BcsRequestId = $script:BcsRequestId + 1
    $request = [ordered]@{
        jsonrpc = '2.0'
        id      = $script:BcsRequestId
        method  = $Method
        params  = $Params
    }
    $line = ConvertTo-Json -InputObject $request -Depth 16 -Compress
    $encoding = New-Object -TypeName System.Text.UTF8Encoding -ArgumentList $false
    $pipe = $null
    $reader = $null
    $writer = $null
    $answer = $null
    try {
        try {
            $pipe = Connect-BcsPipe -PipeName $pipeName -TimeoutMilliseconds $ConnectTimeout
        }
        catch [System.Security.SecurityException] {
            $record = New-BcsErrorRecord -Message $_.Exception.Message -ErrorId 'Bcs.Server.UntrustedEngine' -Category 'SecurityError' -TargetObject $pipeName -HResult '0x80070005'
            $Cmdlet.ThrowTerminatingError($record)
        }
        catch {
            $reason = $_.Exception.Message
            if ($_.Exception.InnerException) {
                $reason = $_.Exception.InnerException.Message
            }
            $message = "No BITS Compact Server engine is running on pipe '$pipeName' ($reason). " +
            "Start one with Start-BcsServer (or 'python -m bcs serve'), or point the module at a running " +
            'engine with $env:BCS_PIPE_NAME.'
            $record = New-BcsErrorRecord -Message $message -ErrorId 'Bcs.Server.EngineNotRunning' -Category 'ResourceUnavailable' -TargetObject $pipeName -HResult '0x80070002' -RecommendedAction 'Run Start-BcsServer.'
            $Cmdlet.ThrowTerminatingError($record)
        }
        $writer = New-Object -TypeName System.IO.StreamWriter -ArgumentList $pipe, $encoding, 65536, $true
        $reader = New-Object -TypeName System.IO.StreamReader -ArgumentList $pipe, $encoding, $false, 65536, $true
        $writer.Write($line + "`n")
        $writer.Flush()
        $answer = $reader.ReadLine()
    }
    finally {
        if ($null -ne $writer) {
            $writer.Dispose()
        }
        if ($null -ne $reader) {
            $reader.Dispose()
        }
        if ($null -ne $pipe) {
            $pipe.Dispose()
        }
    }
    if ($null -eq $answer) {
        $record = New-BcsErrorRecord -Message "The engine on pipe '$pipeName' closed the connection without answering $Method." -ErrorId 'Bcs.Server.ConnectionClosed' -Category 'ConnectionError' -TargetObject $pipeName
        $Cmdlet.ThrowTerminatingError($record)
    }
    $response = ConvertFrom-Json -InputObject $answer
    if ($response.PSObject.Properties.Name -contains 'error') {
        $rpcError = $response.error
        $data = $rpcError.data
        $errorId = 'Bcs.Rpc.Failed'
        $category = 'NotSpecified'
        $hresult = '0x80004005'
        $target = $null
        if ($null -ne $data) {
            $errorId = [string]$data.errorId
            $category = [string]$data.category
            $hresult = [string]$data.hresult
            $target = $data.target
        }
        if ($null -eq $target) {
            foreach ($key in 'jobId', 'urlGroup') {
                if ($Params.Contains($key)) {
                    $target = $Params[$key]
                    break
                }
            }
        }
        $message = [string]$rpcError.message
        if ($null -ne $data -and $data.name) {
            $message = '{0} ({1} {2})' -f $message, $data.name, $hresult
        }
        $record = New-BcsErrorRecord -Message $message -ErrorId $errorId -Category $category -TargetObject $target -HResult $hresult
        $Cmdlet.WriteError($record)
        return
    }
    if ($null -ne $response.result) {
        $response.result
    }
}
