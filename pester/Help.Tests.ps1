#Requires -Modules @{ ModuleName = 'Pester'; ModuleVersion = '5.0.0' }
# Comment-based help of every exported cmdlet: synopsis, description, examples, every parameter.

BeforeDiscovery {
    $moduleRoot = Split-Path -Path $PSScriptRoot -Parent
    Import-Module -Name (Join-Path -Path $moduleRoot -ChildPath 'BitsCompactServer.psd1') -Force
    $commands = Get-Command -Module BitsCompactServer -CommandType Function |
        ForEach-Object -Process { @{ Name = $_.Name } }
}

BeforeAll {
    $moduleRoot = Split-Path -Path $PSScriptRoot -Parent
    Import-Module -Name (Join-Path -Path $moduleRoot -ChildPath 'BitsCompactServer.psd1') -Force
    $script:common = [System.Management.Automation.PSCmdlet]::CommonParameters +
    [System.Management.Automation.PSCmdlet]::OptionalCommonParameters
}

Describe 'Help of <Name>' -ForEach $commands {
    BeforeAll {
        $script:help = Get-Help -Name $Name -Full
        $script:command = Get-Command -Name $Name
    }

    It 'has a synopsis' {
        $script:help.Synopsis | Should -Not -BeNullOrEmpty
        $script:help.Synopsis | Should -Not -BeLike "*$Name*[<]CommonParameters[>]*"
    }

    It 'has a description' {
        ($script:help.Description | Out-String).Trim() | Should -Not -BeNullOrEmpty
    }

    It 'has at least one example that calls the cmdlet' {
        $script:help.Examples.Example.Count | Should -BeGreaterThan 0
        ($script:help.Examples.Example | Out-String) | Should -BeLike "*$Name*"
    }

    It 'documents every parameter' {
        foreach ($parameter in $script:command.Parameters.Keys) {
            if ($script:common -contains $parameter) {
                continue
            }
            $documented = $script:help.Parameters.Parameter | Where-Object -Property Name -EQ $parameter
            ($documented.Description | Out-String).Trim() | Should -Not -BeNullOrEmpty -Because "-$parameter needs a description"
        }
    }
}
