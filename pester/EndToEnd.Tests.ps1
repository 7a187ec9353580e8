#Requires -Modules @{ ModuleName = 'Pester'; ModuleVersion = '5.0.0' }
# End to end against a real engine (python -m bcs serve): the HelloWorld example, then the
# cmdlets one by one. Needs Python with the bcs package: $env:BCS_PYTHON, else python/python3.
# Engines start with -NoDemo, so a new state directory holds no URL group. Each It that needs
# the URL group or a clean job list sets it up itself (Initialize-PesterUrlGroup, AfterEach),
# so one failing It does not make the next ones fail.

BeforeAll {
    $script:moduleRoot = Split-Path -Path $PSScriptRoot -Parent
    Import-Module -Name (Join-Path -Path $script:moduleRoot -ChildPath 'BitsCompactServer.psd1') -Force

    function Get-FreeTcpPort {
        $listener = New-Object -TypeName System.Net.Sockets.TcpListener -ArgumentList ([System.Net.IPAddress]::Loopback), 0
        $listener.Start()
        try {
            $listener.LocalEndpoint.Port
        }
        finally {
            $listener.Stop()
        }
    }

    $script:python = $env:BCS_PYTHON
    if (-not $script:python) {
        $script:python = 'python3'
        if ([System.Environment]::OSVersion.Platform -eq [System.PlatformID]::Win32NT) {
            $script:python = 'python'
        }
    }
}

Describe 'examples/HelloWorld.ps1' {
    It 'hosts a file, downloads it with a job and completes the job' {
        $port = Get-FreeTcpPort
        $pipeName = 'bcs-pester-hello-' + [System.Guid]::NewGuid().ToString('N').Substring(0, 8)
        $state = Join-Path -Path $TestDrive -ChildPath 'hello-state'
        $example = Join-Path -Path $script:moduleRoot -ChildPath 'examples/HelloWorld.ps1'
        $result = & $example -Port $port -PythonPath $script:python -StateDirectory $state -PipeName $pipeName -NoDemo
        $result.JobState | Should -Be 'Acknowledged'
        $result.Identical | Should -BeTrue
        $result.Content | Should -BeLike 'Hello, World!*'
        $result.Url | Should -BeLike "*:$port/HelloWorld/hello.txt"
        Test-Path -LiteralPath $result.Destination | Should -BeTrue
    }
}

Describe 'The cmdlets against a running engine' {
    BeforeAll {
        $script:port = Get-FreeTcpPort
        $script:pipeName = 'bcs-pester-' + [System.Guid]::NewGuid().ToString('N').Substring(0, 8)
        $script:state = Join-Path -Path $TestDrive -ChildPath 'state'
        $script:server = Start-BcsServer -PythonPath $script:python -StateDirectory $script:state -PipeName $script:pipeName -NoDemo -ErrorAction Stop
        $script:group = "http://+:$($script:port)/Pester/"
        $script:content = Join-Path -Path $TestDrive -ChildPath 'content'
        $null = New-Item -ItemType Directory -Path $script:content -Force
        $script:payload = Join-Path -Path $script:content -ChildPath 'payload.bin'
        $bytes = New-Object -TypeName byte[] -ArgumentList (3MB)
        (New-Object -TypeName System.Random -ArgumentList 7).NextBytes($bytes)
        [System.IO.File]::WriteAllBytes($script:payload, $bytes)

        # The URL group with payload.bin, whatever an earlier It left behind.
        function Initialize-PesterUrlGroup {
            if (-not (Get-BcsUrlGroup -UrlGroup $script:group -ErrorAction SilentlyContinue)) {
                $null = New-BcsUrlGroup -UrlGroup $script:group -ConnectionLimit 2 -ErrorAction Stop
            }
            if (-not (Get-BcsUrl -UrlGroup $script:group -ErrorAction SilentlyContinue | Where-Object -Property UrlSuffix -EQ 'payload.bin')) {
                $null = Add-BcsUrl -UrlGroup $script:group -UrlSuffix 'payload.bin' -SourcePath $script:payload -ErrorAction Stop
            }
        }
    }

    AfterEach {
        # A job left by a failed It must not show up in the next one.
        try {
            Get-BcsJob | Remove-BcsJob -Confirm:$false -ErrorAction SilentlyContinue
        }
        catch {
            Write-Verbose -Message "No engine to clean up: $($_.Exception.Message)"
        }
    }

    AfterAll {
        # The last test stops the engine; when an earlier one failed, clean up here.
        try {
            Get-BcsJob | Remove-BcsJob -Confirm:$false -ErrorAction SilentlyContinue
            Stop-BcsServer -Confirm:$false -ErrorAction SilentlyContinue
        }
        catch {
            Write-Verbose -Message "Engine already stopped: $($_.Exception.Message)"
        }
    }

    It 'starts the engine on its own pipe and reports it' {
        $script:server.PSObject.TypeNames | Should -Contain 'Bcs.Server'
        $script:server.PipeName | Should -Be $script:pipeName
        (Get-BcsServer).Pid | Should -Be $script:server.Pid
    }

    It 'refuses a second engine on the same pipe' {
        Start-BcsServer -PythonPath $script:python -PipeName $script:pipeName -NoDemo -ErrorVariable failed -ErrorAction SilentlyContinue
        $failed[0].FullyQualifiedErrorId | Should -BeLike 'Bcs.Server.AlreadyRunning*'
    }

    It 'reports dates as UTC [datetime] in every edition' {
        $script:server.StartTime | Should -BeOfType ([datetime])
        $script:server.StartTime.Kind | Should -Be ([System.DateTimeKind]::Utc)
    }

    It 'changes server settings' {
        (Set-BcsServer -MaxUrlGroups 50 -Confirm:$false).MaxUrlGroups | Should -Be 50
        (Get-BcsServer).MaxUrlGroups | Should -Be 50
    }

    It 'serves Prometheus metrics on its own port when asked, and stops' {
        $listener = [System.Net.Sockets.TcpListener]::new([System.Net.IPAddress]::Loopback, 0)
        $listener.Start()
        $metricsPort = $listener.LocalEndpoint.Port
        $listener.Stop()
        $status = Set-BcsServer -MetricsPort $metricsPort -AccessLogFormat json -Confirm:$false
        $status.MetricsPort | Should -Be $metricsPort
        $status.Services.Metrics.Listening | Should -BeTrue
        $page = Invoke-WebRequest -Uri "http://127.0.0.1:$metricsPort/metrics" -UseBasicParsing
        $page.StatusCode | Should -Be 200
        $page.Content | Should -Match '# TYPE bcs_http_requests_total counter'
        (Set-BcsServer -MetricsPort 0 -AccessLogFormat text -Confirm:$false).Services.Metrics.Listening | Should -BeFalse
        (Get-BcsServer).PSObject.Properties.Name | Should -Contain 'UrlGroupCounters'
    }

    It 'creates, publishes into and lists a URL group' {
        Get-BcsUrlGroup | Should -BeNullOrEmpty -Because 'the engine started with -NoDemo'
        $created = New-BcsUrlGroup -UrlGroup $script:group -ConnectionLimit 2
        $created.PSObject.TypeNames | Should -Contain 'Bcs.UrlGroup'
        $url = Add-BcsUrl -UrlGroup $script:group -UrlSuffix 'payload.bin' -SourcePath $script:payload
        $url.PSObject.TypeNames | Should -Contain 'Bcs.Url'
        (Get-BcsUrlGroup | Where-Object -Property UrlGroup -EQ $created.UrlGroup) | Should -Not -BeNullOrEmpty
        (Get-BcsUrlGroup -UrlGroup $script:group | Get-BcsUrl).UrlSuffix | Should -Be 'payload.bin'
        (Set-BcsUrlGroup -UrlGroup $script:group -BandwidthLimit 0 -Confirm:$false).BandwidthLimit | Should -Be 0
    }

    It 'publishes a file under its pinned SHA-256 (Repr-Digest)' {
        $url = Add-BcsUrl -UrlGroup $script:group -UrlSuffix 'pinned.bin' -SourcePath $script:payload -Sha256
        $url.Sha256 | Should -BeTrue
        $url.DigestState | Should -Be 'Known'
        $hex = (Get-FileHash -Path $script:payload -Algorithm SHA256).Hash.ToLowerInvariant()
        $url.Sha256Digest | Should -Be $hex
        $bytes = [byte[]]::new($hex.Length / 2)
        for ($i = 0; $i -lt $bytes.Length; $i++) { $bytes[$i] = [Convert]::ToByte($hex.Substring(2 * $i, 2), 16) }
        $page = Invoke-WebRequest -Uri "http://localhost:$($script:port)/Pester/pinned.bin" -Method Head -UseBasicParsing
        @($page.Headers['Repr-Digest'])[0] | Should -Be "sha-256=:$([Convert]::ToBase64String($bytes)):"
        Remove-BcsUrl -UrlGroup $script:group -UrlSuffix 'pinned.bin' -Confirm:$false
    }

    It 'writes an ErrorRecord with id, category and target for an unknown URL group' {
        Get-BcsUrlGroup -UrlGroup 'http://+:1/Missing/' -ErrorVariable failed -ErrorAction SilentlyContinue
        $failed.Count | Should -Be 1
        $failed[0].FullyQualifiedErrorId | Should -BeLike 'Bcs.UrlGroup.NotFound*'
        $failed[0].CategoryInfo.Category | Should -Be 'ObjectNotFound'
        $failed[0].Exception.HResult | Should -Be ([System.Convert]::ToInt32('80070490', 16))
    }

    It 'downloads synchronously and completes the job, as Start-BitsTransfer' {
        Initialize-PesterUrlGroup
        $destination = Join-Path -Path $TestDrive -ChildPath 'sync.bin'
        $job = Start-BcsJob -Source "http://localhost:$($script:port)/Pester/payload.bin" -Destination $destination
        $job.PSObject.TypeNames | Should -Contain 'Bcs.Job'
        $job.JobState | Should -Be 'Acknowledged'
        (Get-FileHash -LiteralPath $destination).Hash | Should -Be (Get-FileHash -LiteralPath $script:payload).Hash
    }

    It 'checks the expected SHA-256 of each file (-Sha256)' {
        Initialize-PesterUrlGroup
        $hash = (Get-FileHash -LiteralPath $script:payload -Algorithm SHA256).Hash
        $pinned = Join-Path -Path $TestDrive -ChildPath 'pinned.bin'
        $job = Start-BcsJob -Source "http://localhost:$($script:port)/Pester/payload.bin" -Destination $pinned -Sha256 $hash
        $job.JobState | Should -Be 'Acknowledged'
        (Get-FileHash -LiteralPath $pinned -Algorithm SHA256).Hash | Should -Be $hash
        $wrong = Join-Path -Path $TestDrive -ChildPath 'wrong.bin'
        $job = Start-BcsJob -Source "http://localhost:$($script:port)/Pester/payload.bin" -Destination $wrong -Sha256 ('0' * 64) -Asynchronous -Priority Normal
        $job = $job | Wait-BcsJob -Timeout 120
        $job.JobState | Should -Be 'Error'
        $job.ErrorName | Should -Be 'CRYPT_E_HASH_VALUE'
        $job.ErrorCategory | Should -Be 'InvalidData'
        Test-Path -LiteralPath $wrong | Should -BeFalse
    }

    It 'runs an asynchronous job through Wait-BcsJob and the pipeline to Complete-BcsJob' {
        Initialize-PesterUrlGroup
        $destination = Join-Path -Path $TestDrive -ChildPath 'async.bin'
        $job = Start-BcsJob -Source "http://localhost:$($script:port)/Pester/payload.bin" -Destination $destination -Asynchronous -Priority Normal
        $job.JobState | Should -Not -Be 'Acknowledged'
        $job.CreationTime | Should -BeOfType ([datetime])
        $job.CreationTime.Kind | Should -Be ([System.DateTimeKind]::Utc)
        $done = $job | Wait-BcsJob -Timeout 120 | Complete-BcsJob
        $done.JobState | Should -Be 'Acknowledged'
        Test-Path -LiteralPath $destination | Should -BeTrue
    }

    It 'suspends, changes, resumes asynchronously and cancels a job through the pipeline' {
        Initialize-PesterUrlGroup
        $destination = Join-Path -Path $TestDrive -ChildPath 'suspended.bin'
        $job = Start-BcsJob -Source "http://localhost:$($script:port)/Pester/payload.bin" -Destination $destination -Suspended -DisplayName 'Pester suspended'
        $job.JobState | Should -Be 'Suspended'
        (Get-BcsJob -Name 'Pester sus*').JobId | Should -Be $job.JobId
        # Positional: a job id, not a name pattern.
        (Get-BcsJob $job.JobId).JobId | Should -Be $job.JobId
        ($job | Set-BcsJob -Priority Low -Description 'from Pester' -Confirm:$false).Priority | Should -Be 'Low'
        $second = Join-Path -Path $TestDrive -ChildPath 'second.bin'
        ($job | Add-BcsFile -Source "http://localhost:$($script:port)/Pester/payload.bin" -Destination $second -Confirm:$false).FilesTotal | Should -Be 2
        ($job | Resume-BcsJob -Asynchronous -Confirm:$false).JobState | Should -Not -Be 'Suspended'
        Get-BcsJob -JobId $job.JobId | Remove-BcsJob -Confirm:$false
        Test-Path -LiteralPath $destination | Should -BeFalse
    }

    It 'does not find a cancelled job any more, as BITS (BG_E_NOT_FOUND)' {
        Initialize-PesterUrlGroup
        $destination = Join-Path -Path $TestDrive -ChildPath 'cancelled.bin'
        $job = Start-BcsJob -Source "http://localhost:$($script:port)/Pester/payload.bin" -Destination $destination -Suspended
        $job | Remove-BcsJob -Confirm:$false
        $missing = $null
        $found = Get-BcsJob -JobId $job.JobId -ErrorVariable missing -ErrorAction SilentlyContinue
        $found | Should -BeNullOrEmpty
        $missing.Count | Should -Be 1
        $missing[0].FullyQualifiedErrorId | Should -BeLike 'Bcs.Job.NotFound*'
        $missing[0].CategoryInfo.Category | Should -Be 'ObjectNotFound'
        $missing[0].Exception.HResult | Should -Be ([System.Convert]::ToInt32('80200001', 16))
        Get-BcsJob | Where-Object -Property JobId -EQ $job.JobId | Should -BeNullOrEmpty
    }

    It 'uploads a file with -TransferType Upload to an upload-enabled URL group and completes it' {
        $uploadGroup = "http://+:$($script:port)/PesterUpload/"
        $incoming = Join-Path -Path $TestDrive -ChildPath 'incoming'
        $null = New-Item -ItemType Directory -Path $incoming -Force
        $null = New-BcsUrlGroup -UrlGroup $uploadGroup -ErrorAction Stop
        $null = Set-BcsUrlGroup -UrlGroup $uploadGroup -UploadEnabled $true -Confirm:$false
        $null = Add-BcsUrl -UrlGroup $uploadGroup -UrlSuffix 'files' -SourcePath $incoming
        $job = Start-BcsJob -TransferType Upload -Source $script:payload -Destination "http://localhost:$($script:port)/PesterUpload/files/uploaded.bin"
        $job.PSObject.TypeNames | Should -Contain 'Bcs.Job'
        $job.JobState | Should -Be 'Acknowledged'
        $job.TransferType | Should -Be 'Upload'
        $job.BytesTransferred | Should -Be (Get-Item -LiteralPath $script:payload).Length
        $uploaded = Join-Path -Path $incoming -ChildPath 'uploaded.bin'
        (Get-FileHash -LiteralPath $uploaded).Hash | Should -Be (Get-FileHash -LiteralPath $script:payload).Hash
        Get-BcsUploadSession -UrlGroup $uploadGroup | Should -BeNullOrEmpty
        Remove-BcsUrlGroup -UrlGroup $uploadGroup -Confirm:$false
    }

    It 'does not create anything with -WhatIf' {
        New-BcsUrlGroup -UrlGroup "http://+:$($script:port)/WhatIf/" -WhatIf
        Get-BcsUrlGroup | Where-Object -Property UrlGroup -Like '*WhatIf*' | Should -BeNullOrEmpty
    }

    It 'exports and imports the configuration' {
        Initialize-PesterUrlGroup
        $file = Join-Path -Path $TestDrive -ChildPath 'config.yaml'
        Export-BcsConfiguration -Path $file
        Get-Content -LiteralPath $file -Raw | Should -BeLike '*Pester*'
        Remove-BcsUrlGroup -UrlGroup $script:group -Confirm:$false
        Get-BcsUrlGroup | Should -BeNullOrEmpty
        $null = Import-BcsConfiguration -Path $file -Confirm:$false
        (Get-BcsUrlGroup).UrlGroup | Should -BeLike '*/Pester/'
    }

    It 'imports the text Export-BcsConfiguration writes to the pipeline' {
        Initialize-PesterUrlGroup
        $imported = Export-BcsConfiguration | Import-BcsConfiguration -Confirm:$false
        $imported.PSObject.TypeNames | Should -Contain 'Bcs.Configuration'
        (Get-BcsUrlGroup).UrlGroup | Should -BeLike '*/Pester/'
    }

    It 'removes URLs and URL groups through the pipeline' {
        Initialize-PesterUrlGroup
        Get-BcsUrl -UrlGroup $script:group | Remove-BcsUrl -Confirm:$false
        Get-BcsUrl -UrlGroup $script:group | Should -BeNullOrEmpty
        Get-BcsUrlGroup | Remove-BcsUrlGroup -Confirm:$false
        Get-BcsUrlGroup | Should -BeNullOrEmpty
    }

    It 'stops the engine and returns once its process has exited' {
        $enginePid = (Get-BcsServer).Pid
        Stop-BcsServer -Confirm:$false
        Get-Process -Id $enginePid -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
        { Get-BcsServer } | Should -Throw -ErrorId 'Bcs.Server.EngineNotRunning*'
    }
}
