#Requires -Modules @{ ModuleName = 'Pester'; ModuleVersion = '5.0.0' }
# Register-BcsScheduledTask and Unregister-BcsScheduledTask. On Windows (elevated, with the
# ScheduledTasks module) a real task is registered as SYSTEM, started, its engine stopped with
# Stop-BcsServer, and removed; elsewhere both cmdlets must stop with Bcs.ScheduledTask.NotSupported
# pointing to 'bcs service install --systemd'. tests/test_powershell_scheduled_task.py replays
# what can run without Windows: change both files together.

BeforeDiscovery {
    $onWindows = [System.Environment]::OSVersion.Platform -eq [System.PlatformID]::Win32NT
    $canRegister = $false
    if ($onWindows -and (Get-Command -Name 'Register-ScheduledTask' -ErrorAction SilentlyContinue)) {
        $identity = [System.Security.Principal.WindowsPrincipal][System.Security.Principal.WindowsIdentity]::GetCurrent()
        $canRegister = $identity.IsInRole([System.Security.Principal.WindowsBuiltInRole]::Administrator)
    }
}

BeforeAll {
    $script:moduleRoot = Split-Path -Path $PSScriptRoot -Parent
    Import-Module -Name (Join-Path -Path $script:moduleRoot -ChildPath 'BitsCompactServer.psd1') -Force
    $script:python = $env:BCS_PYTHON
    if (-not $script:python) {
        $script:python = 'python3'
        if ([System.Environment]::OSVersion.Platform -eq [System.PlatformID]::Win32NT) {
            $script:python = 'python'
        }
    }
}

Describe 'Register-BcsScheduledTask off Windows' -Skip:$onWindows {
    It 'stops with Bcs.ScheduledTask.NotSupported and points to bcs service install --systemd' {
        $caught = $null
        try {
            Register-BcsScheduledTask -PythonPath $script:python -WhatIf
        }
        catch {
            $caught = $_
        }
        $caught | Should -Not -BeNullOrEmpty
        $caught.FullyQualifiedErrorId | Should -BeLike 'Bcs.ScheduledTask.NotSupported*'
        $caught.CategoryInfo.Category | Should -Be 'NotImplemented'
        $caught.Exception.Message | Should -BeLike "*use 'bcs service install --systemd'*"
        $caught.TargetObject | Should -Be 'BitsCompactServer'
    }

    It 'Unregister-BcsScheduledTask stops the same way' {
        { Unregister-BcsScheduledTask -Confirm:$false } | Should -Throw -ErrorId 'Bcs.ScheduledTask.NotSupported*'
    }
}

Describe 'Register-BcsScheduledTask on Windows' -Skip:(-not $canRegister) {
    BeforeAll {
        $suffix = [System.Guid]::NewGuid().ToString('N').Substring(0, 8)
        $script:taskName = 'BcsPester-' + $suffix
        $script:pipeName = 'bcs-pester-task-' + $suffix
        $script:state = Join-Path -Path $TestDrive -ChildPath 'task state'
        $script:savedPipeName = $env:BCS_PIPE_NAME
        $env:BCS_PIPE_NAME = $script:pipeName
    }

    AfterAll {
        try {
            Stop-BcsServer -Confirm:$false -ErrorAction SilentlyContinue
        }
        catch {
            Write-Verbose -Message "No engine to stop: $($_.Exception.Message)"
        }
        Unregister-ScheduledTask -TaskName $script:taskName -Confirm:$false -ErrorAction SilentlyContinue
        $env:BCS_PIPE_NAME = $script:savedPipeName
    }

    It 'registers a startup task running the engine in the foreground as SYSTEM with no time limit' {
        $registered = Register-BcsScheduledTask -TaskName $script:taskName -PythonPath $script:python -StateDirectory $script:state -PipeName $script:pipeName -NoDemo -Confirm:$false
        $registered.PSObject.TypeNames | Should -Contain 'Bcs.ScheduledTask'
        $registered.User | Should -Be 'SYSTEM'
        $task = Get-ScheduledTask -TaskName $script:taskName
        $task.Actions[0].Execute | Should -Be (Get-Command -Name $script:python -CommandType Application | Select-Object -First 1).Path
        $task.Actions[0].Arguments | Should -Be "-m bcs --pipe-name $($script:pipeName) serve --state-dir `"$($script:state)`" --no-demo"
        $task.Actions[0].Arguments | Should -Not -BeLike '*--detach*'
        $task.Triggers[0].CimClass.CimClassName | Should -Be 'MSFT_TaskBootTrigger'
        $task.Principal.UserId | Should -Be 'SYSTEM'
        [string]$task.Principal.LogonType | Should -Be 'ServiceAccount'
        [string]$task.Principal.RunLevel | Should -Be 'Highest'
        $task.Settings.ExecutionTimeLimit | Should -Be 'PT0S'
    }

    It 'refuses a second registration without -Force' {
        Register-BcsScheduledTask -TaskName $script:taskName -PythonPath $script:python -PipeName $script:pipeName -Confirm:$false -ErrorVariable failed -ErrorAction SilentlyContinue
        $failed[0].FullyQualifiedErrorId | Should -BeLike 'Bcs.ScheduledTask.AlreadyExists*'
    }

    It 'starts the engine, which answers on its pipe, and ends the task when Stop-BcsServer stops it' {
        Start-ScheduledTask -TaskName $script:taskName
        $server = $null
        $deadline = (Get-Date).AddSeconds(60)
        while ($null -eq $server -and (Get-Date) -lt $deadline) {
            try {
                $server = Get-BcsServer -ErrorAction Stop
            }
            catch {
                Start-Sleep -Milliseconds 500
            }
        }
        $server | Should -Not -BeNullOrEmpty
        $server.PipeName | Should -Be $script:pipeName
        $server.StateDir | Should -BeLike '*task state'
        $server.UrlGroupCount | Should -Be 0
        Stop-BcsServer -Confirm:$false
        $deadline = (Get-Date).AddSeconds(30)
        while ((Get-ScheduledTask -TaskName $script:taskName).State -eq 'Running' -and (Get-Date) -lt $deadline) {
            Start-Sleep -Milliseconds 500
        }
        [string](Get-ScheduledTask -TaskName $script:taskName).State | Should -Be 'Ready'
        (Get-ScheduledTaskInfo -TaskName $script:taskName).LastTaskResult | Should -Be 0
    }

    It 'unregisters the task' {
        Unregister-BcsScheduledTask -TaskName $script:taskName -Confirm:$false
        Get-ScheduledTask -TaskName $script:taskName -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
    }

    It 'reports a missing task as Bcs.ScheduledTask.NotFound' {
        Unregister-BcsScheduledTask -TaskName $script:taskName -Confirm:$false -ErrorVariable failed -ErrorAction SilentlyContinue
        $failed[0].FullyQualifiedErrorId | Should -BeLike 'Bcs.ScheduledTask.NotFound*'
        $failed[0].CategoryInfo.Category | Should -Be 'ObjectNotFound'
    }
}
