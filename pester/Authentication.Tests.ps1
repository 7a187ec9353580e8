#Requires -Modules @{ ModuleName = 'Pester'; ModuleVersion = '5.0.0' }
# Get-BcsAuthentication and Set-BcsAuthentication against a real engine (python -m bcs serve).
# No domain controller runs here: a directory that cannot be reached must be refused, and one put
# in place by Import-BcsConfiguration (which does not bind) is kept and removed. Needs Python with
# the bcs package: $env:BCS_PYTHON, else python/python3.
# tests/test_powershell_replay.py::test_authentication_settings replays these steps with the same
# JSON and the same expectations: change one, change the other.

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

Describe 'Authentication settings' {
    BeforeAll {
        $script:pipeName = 'bcs-pester-auth-' + [System.Guid]::NewGuid().ToString('N').Substring(0, 8)
        $script:state = Join-Path -Path $TestDrive -ChildPath 'auth-state'
        $null = Start-BcsServer -PythonPath $script:python -StateDirectory $script:state -PipeName $script:pipeName -NoDemo -ErrorAction Stop
        $script:users = Join-Path -Path $TestDrive -ChildPath 'ntlm-users'
        Set-Content -LiteralPath $script:users -Value 'BCS:alice:Alice-pw1'
        $script:domainSid = 'S-1-5-21-1000-2000-3000'
        $script:unreachableDc = 'ldaps://127.0.0.1:1'
        $script:bindUser = 'svc-bcs@corp.example'
        $script:storedPassword = 'Stored-Bind-Pw1'
    }

    AfterAll {
        try {
            Stop-BcsServer -Confirm:$false -ErrorAction SilentlyContinue
        }
        catch {
            Write-Verbose -Message "Engine already stopped: $($_.Exception.Message)"
        }
    }

    It 'starts with no keytab, NTLM user file, directory or principals' {
        $auth = Get-BcsAuthentication
        $auth.PSObject.TypeNames | Should -Contain 'Bcs.Authentication'
        $auth.KeytabPath | Should -Be ''
        $auth.NtlmUserFile | Should -Be ''
        $auth.Ldap | Should -BeNullOrEmpty
        $auth.Directory | Should -BeNullOrEmpty
        $auth.Principals | Should -BeNullOrEmpty
        $auth.ResolvesSids | Should -BeFalse
    }

    It 'sets the NTLM user file and the principals map from NAME=SID:GROUPSID strings' {
        $alice = "BCS\alice=$($script:domainSid)-1001:$($script:domainSid)-2001,$($script:domainSid)-2002"
        $bob = "BCS\bob=$($script:domainSid)-1002"
        Push-Location -LiteralPath $TestDrive
        try {
            $auth = Set-BcsAuthentication -NtlmUserFile './ntlm-users' -Principal $alice, $bob -Confirm:$false
        }
        finally {
            Pop-Location
        }
        $auth.PSObject.TypeNames | Should -Contain 'Bcs.Authentication'
        $auth.NtlmUserFile | Should -Be $script:users
        $auth.Principals.Name | Should -Be @('BCS\alice', 'BCS\bob')
        $auth.Principals[0].Groups | Should -Be @("$($script:domainSid)-2001", "$($script:domainSid)-2002")
        $auth.Principals[1].Groups | Should -BeNullOrEmpty
        $auth.ResolvesSids | Should -BeTrue
    }

    It 'keeps what it is not given' {
        $auth = Set-BcsAuthentication -KeytabPath '' -Confirm:$false
        $auth.NtlmUserFile | Should -Be $script:users
        $auth.Principals.Count | Should -Be 2
    }

    It 'refuses a malformed principal and -Principal with -ClearPrincipals before calling the engine' {
        { Set-BcsAuthentication -Principal 'BCS\carol' -Confirm:$false } |
            Should -Throw -ErrorId 'Bcs.Authentication.InvalidPrincipal*'
        { Set-BcsAuthentication -Principal "BCS\carol=$($script:domainSid)-1003" -ClearPrincipals -Confirm:$false } |
            Should -Throw -ErrorId 'Bcs.Authentication.ConflictingParameters*'
        (Get-BcsAuthentication).Principals.Count | Should -Be 2
    }

    It 'writes the engine error for a SID that is not one, and changes nothing' {
        $failed = $null
        Set-BcsAuthentication -Principal 'BCS\x=S-1-bogus' -Confirm:$false -ErrorVariable failed -ErrorAction SilentlyContinue
        $failed.Count | Should -Be 1
        $failed[0].FullyQualifiedErrorId | Should -BeLike 'Bcs.Configuration.InvalidArgument*'
        $failed[0].CategoryInfo.Category | Should -Be 'InvalidArgument'
        $failed[0].Exception.HResult | Should -Be ([System.Convert]::ToInt32('80070057', 16))
        (Get-BcsAuthentication).Principals.Count | Should -Be 2
    }

    It 'refuses a directory it cannot bind to, and changes nothing' {
        $password = (New-Object -TypeName System.Net.NetworkCredential -ArgumentList '', 'Not-the-pw1').SecurePassword
        $credential = New-Object -TypeName System.Management.Automation.PSCredential -ArgumentList $script:bindUser, $password
        $failed = $null
        Set-BcsAuthentication -LdapUrl $script:unreachableDc -LdapCredential $credential -Confirm:$false -ErrorVariable failed -ErrorAction SilentlyContinue
        $failed.Count | Should -Be 1
        $failed[0].FullyQualifiedErrorId | Should -BeLike 'Bcs.Principal.DirectoryUnavailable*'
        $failed[0].CategoryInfo.Category | Should -Be 'ResourceUnavailable'
        $failed[0].Exception.HResult | Should -Be ([System.Convert]::ToInt32('8007200F', 16))
        (Get-BcsAuthentication).Ldap | Should -BeNullOrEmpty
    }

    It 'keeps the stored bind password for the same directory and account, and removes both with -RemoveLdap' {
        $exported = Export-BcsConfiguration
        $exported | Should -Match '(?m)^  ldap: null$'
        $directory = "  ldap: {url: '$($script:unreachableDc)', bindUser: '$($script:bindUser)', bindPassword: '$($script:storedPassword)'}"
        $null = Import-BcsConfiguration -Yaml ($exported -replace '(?m)^  ldap: null$', $directory) -Confirm:$false
        $auth = Get-BcsAuthentication
        $auth.Ldap.Url | Should -Be $script:unreachableDc
        $auth.Ldap.BindPasswordSet | Should -BeTrue
        $auth.Directory | Should -Be "$($script:unreachableDc) as $($script:bindUser)"
        ($auth | ConvertTo-Json -Depth 8 -Compress) | Should -Not -Match ([regex]::Escape($script:storedPassword))
        Export-BcsConfiguration | Should -Not -Match ([regex]::Escape($script:storedPassword))
        # -LdapUrl and -LdapBindUser as stored: nothing changes, so the engine does not bind.
        $auth = Set-BcsAuthentication -LdapUrl $script:unreachableDc -LdapBindUser $script:bindUser -Confirm:$false
        $auth.Ldap.BindPasswordSet | Should -BeTrue
        $auth = Set-BcsAuthentication -RemoveLdap -Confirm:$false
        $auth.Ldap | Should -BeNullOrEmpty
        $auth.ResolvesSids | Should -BeTrue -Because 'the principals map stays'
        Export-BcsConfiguration | Should -Not -Match 'bindPassword'
        Get-Content -LiteralPath (Join-Path -Path $script:state -ChildPath 'secrets.json') -Raw |
            Should -Not -Match ([regex]::Escape($script:storedPassword))
    }

    It 'changes nothing with -WhatIf' {
        Set-BcsAuthentication -ClearPrincipals -WhatIf
        (Get-BcsAuthentication).Principals.Count | Should -Be 2
    }

    It 'empties the principals map' {
        $auth = Set-BcsAuthentication -ClearPrincipals -Confirm:$false
        $auth.Principals | Should -BeNullOrEmpty
        $auth.ResolvesSids | Should -BeFalse
    }
}
