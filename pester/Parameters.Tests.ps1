#Requires -Modules @{ ModuleName = 'Pester'; ModuleVersion = '5.0.0' }
# Parameter contracts: ShouldProcess, pipeline binding, BitsTransfer-like parameters, and the
# terminating error when no engine runs.

BeforeDiscovery {
    $moduleRoot = Split-Path -Path $PSScriptRoot -Parent
    Import-Module -Name (Join-Path -Path $moduleRoot -ChildPath 'BitsCompactServer.psd1') -Force
    $stateChanging = 'New', 'Set', 'Add', 'Remove', 'Start', 'Stop', 'Suspend', 'Resume', 'Complete', 'Import', 'Register', 'Unregister'
    $changing = Get-Command -Module BitsCompactServer | Where-Object -FilterScript { $stateChanging -contains $_.Verb } |
        ForEach-Object -Process { @{ Name = $_.Name; Verb = $_.Verb } }
    $identity = foreach ($command in Get-Command -Module BitsCompactServer) {
        foreach ($name in 'JobId', 'UrlGroup', 'UrlSuffix', 'Port', 'SessionId') {
            if ($command.Parameters.ContainsKey($name)) {
                @{ Name = $command.Name; Parameter = $name }
            }
        }
    }
}

BeforeAll {
    $moduleRoot = Split-Path -Path $PSScriptRoot -Parent
    Import-Module -Name (Join-Path -Path $moduleRoot -ChildPath 'BitsCompactServer.psd1') -Force
}

Describe '<Name> changes state' -ForEach $changing {
    It 'supports -WhatIf and -Confirm' {
        $command = Get-Command -Name $Name
        $command.Parameters.ContainsKey('WhatIf') | Should -BeTrue
        $command.Parameters.ContainsKey('Confirm') | Should -BeTrue
    }

    It 'asks by default when it removes, stops or replaces everything' {
        $binding = (Get-Command -Name $Name).ScriptBlock.Attributes |
            Where-Object -FilterScript { $_ -is [System.Management.Automation.CmdletBindingAttribute] }
        $expected = 'Medium'
        if ('Remove', 'Stop', 'Unregister' -contains $Verb -or $Name -eq 'Import-BcsConfiguration') {
            $expected = 'High'
        }
        $binding.ConfirmImpact | Should -Be $expected
    }
}

Describe '<Name> -<Parameter>' -ForEach $identity {
    It 'binds from the pipeline by property name' {
        $attributes = (Get-Command -Name $Name).Parameters[$Parameter].Attributes |
            Where-Object -FilterScript { $_ -is [System.Management.Automation.ParameterAttribute] }
        ($attributes | Where-Object -Property ValueFromPipelineByPropertyName).Count | Should -BeGreaterThan 0
    }
}

Describe 'Start-BcsJob mirrors Start-BitsTransfer' {
    BeforeAll {
        $script:parameters = (Get-Command -Name Start-BcsJob).Parameters
    }

    It 'takes Source and Destination arrays at positions 0 and 1' {
        $script:parameters['Source'].ParameterType | Should -Be ([string[]])
        $script:parameters['Destination'].ParameterType | Should -Be ([string[]])
        ($script:parameters['Source'].Attributes | Where-Object -FilterScript { $_ -is [System.Management.Automation.ParameterAttribute] }).Position | Should -Be 0
    }

    It 'has -Asynchronous, -Suspended, -Priority, -Credential, -Authentication and -TransferType' {
        foreach ($name in 'Asynchronous', 'Suspended', 'Priority', 'Credential', 'Authentication', 'TransferType') {
            $script:parameters.ContainsKey($name) | Should -BeTrue -Because "Start-BcsJob needs -$name"
        }
        $script:parameters['Credential'].ParameterType | Should -Be ([System.Management.Automation.PSCredential])
    }

    It 'accepts the BITS priorities, transfer types and schemes' {
        $sets = @{}
        foreach ($name in 'Priority', 'TransferType', 'Authentication') {
            $sets[$name] = ($script:parameters[$name].Attributes | Where-Object -FilterScript { $_ -is [System.Management.Automation.ValidateSetAttribute] }).ValidValues
        }
        $sets['Priority'] | Should -Be @('Foreground', 'High', 'Normal', 'Low')
        $sets['TransferType'] | Should -Be @('Download', 'Upload', 'UploadReply')
        $sets['Authentication'] | Should -Be @('Basic', 'Digest', 'NTLM', 'Negotiate')
    }
}

Describe 'Parameter sets bind the argument meant' {
    It 'Get-BcsJob takes a job id by position (Get-BcsJob $job.JobId) and -Name only by name' {
        $positional = foreach ($parameter in (Get-Command -Name Get-BcsJob).Parameters.Values) {
            foreach ($attribute in $parameter.Attributes) {
                if ($attribute -is [System.Management.Automation.ParameterAttribute] -and $attribute.Position -ge 0) {
                    $parameter.Name
                }
            }
        }
        $positional | Should -Be @('JobId')
    }

    It 'Import-BcsConfiguration defaults to the set that binds piped text to -Yaml' {
        (Get-Command -Name Import-BcsConfiguration).DefaultParameterSet | Should -Be 'Yaml'
    }

    It 'Set-BcsSslCertificate binds files by default and the certificate store by -Thumbprint' {
        $command = Get-Command -Name Set-BcsSslCertificate
        $command.DefaultParameterSet | Should -Be 'Files'
        ($command.ParameterSets | Where-Object -Property Name -EQ 'Store').Parameters.Name | Should -Contain 'Thumbprint'
        $command.Parameters['KeyPassword'].ParameterType | Should -Be ([System.Security.SecureString])
        $command.Parameters['KeyPassword'].ParameterSets.Keys | Should -Be @('Files')
        $command.Parameters['StoreLocation'].ParameterSets.Keys | Should -Be @('Store')
    }

    It 'Set-BcsAuthentication takes the directory account as a PSCredential, never a password parameter' {
        $command = Get-Command -Name Set-BcsAuthentication
        $command.DefaultParameterSet | Should -Be 'Settings'
        $command.Parameters['LdapCredential'].ParameterType | Should -Be ([System.Management.Automation.PSCredential])
        $command.Parameters.Keys | Where-Object -FilterScript { $_ -like '*Password*' } | Should -BeNullOrEmpty
        $command.Parameters['LdapCredential'].ParameterSets.Keys | Should -Be @('DirectoryCredential')
        $command.Parameters['LdapBindUser'].ParameterSets.Keys | Should -Be @('Directory')
        $command.Parameters['RemoveLdap'].ParameterSets.Keys | Should -Be @('RemoveDirectory')
        $command.Parameters['Principal'].ParameterType | Should -Be ([string[]])
    }

    It 'Start-BcsServer has -NoDemo' {
        (Get-Command -Name Start-BcsServer).Parameters['NoDemo'].ParameterType | Should -Be ([switch])
    }
}

Describe 'Without an engine' {
    BeforeAll {
        $script:savedPipeName = $env:BCS_PIPE_NAME
        $env:BCS_PIPE_NAME = 'bcs-pester-nobody-' + [System.Guid]::NewGuid().ToString('N').Substring(0, 8)
    }

    AfterAll {
        $env:BCS_PIPE_NAME = $script:savedPipeName
    }

    It 'stops with Bcs.Server.EngineNotRunning and says how to start the engine' {
        $caught = $null
        try {
            Get-BcsServer
        }
        catch {
            $caught = $_
        }
        $caught | Should -Not -BeNullOrEmpty
        $caught.FullyQualifiedErrorId | Should -BeLike 'Bcs.Server.EngineNotRunning*'
        $caught.CategoryInfo.Category | Should -Be 'ResourceUnavailable'
        $caught.Exception.Message | Should -BeLike '*Start-BcsServer*'
        $caught.TargetObject | Should -Be $env:BCS_PIPE_NAME
    }

    It 'does nothing with -WhatIf' {
        { New-BcsUrlGroup -UrlGroup 'http://+:8080/WhatIf/' -WhatIf } | Should -Not -Throw
    }

    It 'refuses Source and Destination arrays of different lengths' {
        { Start-BcsJob -Source 'http://localhost/a', 'http://localhost/b' -Destination 'a' -Asynchronous } |
            Should -Throw -ErrorId 'Bcs.Job.SourceDestinationMismatch*'
    }
}
