#Requires -Modules @{ ModuleName = 'Pester'; ModuleVersion = '5.0.0' }
# Remote management: the cmdlets run inside Invoke-Command -Session against an engine, as an
# administrator manages a remote engine (the engine has no management listener on the network).
# The session goes to this machine: WinRM (New-PSSession -ComputerName localhost) on Windows, SSH
# (New-PSSession -HostName $env:BCS_PESTER_SSH_HOST, key authentication) elsewhere when that
# variable is set. Skipped when no session can be opened: it has never run on our machines.

BeforeDiscovery {
    $remoting = $false
    $probe = $null
    try {
        if ([System.Environment]::OSVersion.Platform -eq [System.PlatformID]::Win32NT) {
            $probe = New-PSSession -ComputerName 'localhost' -ErrorAction Stop
        }
        elseif ($env:BCS_PESTER_SSH_HOST) {
            $probe = New-PSSession -HostName $env:BCS_PESTER_SSH_HOST -ErrorAction Stop
        }
    }
    catch {
        Write-Verbose -Message "No PowerShell remoting here: $($_.Exception.Message)"
    }
    if ($null -ne $probe) {
        Remove-PSSession -Session $probe
        $remoting = $true
    }
}

BeforeAll {
    $script:moduleRoot = Split-Path -Path $PSScriptRoot -Parent
    $script:manifest = Join-Path -Path $script:moduleRoot -ChildPath 'BitsCompactServer.psd1'
    Import-Module -Name $script:manifest -Force
    $script:python = $env:BCS_PYTHON
    if (-not $script:python) {
        $script:python = 'python3'
        if ([System.Environment]::OSVersion.Platform -eq [System.PlatformID]::Win32NT) {
            $script:python = 'python'
        }
    }
}

Describe 'Managing an engine through PowerShell remoting' -Skip:(-not $remoting) {
    BeforeAll {
        $suffix = [System.Guid]::NewGuid().ToString('N').Substring(0, 8)
        $script:pipeName = 'bcs-pester-remote-' + $suffix
        $script:state = Join-Path -Path $TestDrive -ChildPath 'remote-state'
        $script:server = Start-BcsServer -PythonPath $script:python -StateDirectory $script:state -PipeName $script:pipeName -NoDemo -ErrorAction Stop
        if ([System.Environment]::OSVersion.Platform -eq [System.PlatformID]::Win32NT) {
            $script:session = New-PSSession -ComputerName 'localhost' -ErrorAction Stop
        }
        else {
            $script:session = New-PSSession -HostName $env:BCS_PESTER_SSH_HOST -ErrorAction Stop
        }
        # The module on the remote side, talking to this test's engine.
        Invoke-Command -Session $script:session -ScriptBlock {
            param($Manifest, $PipeName)
            Import-Module -Name $Manifest -Force
            $env:BCS_PIPE_NAME = $PipeName
        } -ArgumentList $script:manifest, $script:pipeName
        $listener = New-Object -TypeName System.Net.Sockets.TcpListener -ArgumentList ([System.Net.IPAddress]::Loopback), 0
        $listener.Start()
        $script:port = $listener.LocalEndpoint.Port
        $listener.Stop()
    }

    AfterAll {
        if ($script:session) {
            Remove-PSSession -Session $script:session
        }
        Stop-BcsServer -Confirm:$false -ErrorAction SilentlyContinue
    }

    It 'runs Get-BcsServer inside Invoke-Command -Session and reaches the engine' {
        $remote = Invoke-Command -Session $script:session -ScriptBlock { Get-BcsServer }
        $remote.Pid | Should -Be $script:server.Pid
        $remote.PipeName | Should -Be $script:pipeName
        $remote.PSObject.TypeNames | Should -Contain 'Deserialized.Bcs.Server'
    }

    It 'changes the engine from the session: a URL group created there is seen here' {
        $group = "http://127.0.0.1:$($script:port)/Remote/"
        $created = Invoke-Command -Session $script:session -ScriptBlock {
            param($UrlGroup)
            New-BcsUrlGroup -UrlGroup $UrlGroup -Confirm:$false
        } -ArgumentList $group
        $created.UrlGroup | Should -BeLike '*/Remote/'
        (Get-BcsUrlGroup -UrlGroup $group).UrlGroup | Should -BeLike '*/Remote/'
        Invoke-Command -Session $script:session -ScriptBlock {
            param($UrlGroup)
            Remove-BcsUrlGroup -UrlGroup $UrlGroup -Confirm:$false
        } -ArgumentList $group
        Get-BcsUrlGroup | Should -BeNullOrEmpty
    }

    It 'brings engine errors back as ErrorRecords with their id' {
        Invoke-Command -Session $script:session -ScriptBlock {
            Get-BcsUrlGroup -UrlGroup 'http://+:1/Missing/'
        } -ErrorVariable failed -ErrorAction SilentlyContinue
        $failed.Count | Should -Be 1
        $failed[0].FullyQualifiedErrorId | Should -BeLike 'Bcs.UrlGroup.NotFound*'
    }
}
