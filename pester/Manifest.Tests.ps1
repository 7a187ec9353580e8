#Requires -Modules @{ ModuleName = 'Pester'; ModuleVersion = '5.0.0' }
# The module manifest: loads, exports exactly the cmdlet files, declares editions and formats.

BeforeAll {
    $script:moduleRoot = Split-Path -Path $PSScriptRoot -Parent
    $script:manifestPath = Join-Path -Path $script:moduleRoot -ChildPath 'BitsCompactServer.psd1'
    $script:manifest = Test-ModuleManifest -Path $script:manifestPath -ErrorAction Stop
    Import-Module -Name $script:manifestPath -Force
}

AfterAll {
    Remove-Module -Name BitsCompactServer -Force -ErrorAction SilentlyContinue
}

Describe 'BitsCompactServer manifest' {
    It 'is a valid module manifest for PowerShell 5.1 and later' {
        $script:manifest.PowerShellVersion | Should -Be ([version]'5.1')
        $script:manifest.RootModule | Should -Be 'BitsCompactServer.psm1'
    }

    It 'supports the Desktop and Core editions' {
        $script:manifest.CompatiblePSEditions | Should -Be @('Desktop', 'Core')
    }

    It 'exports exactly one function per cmdlets/*.ps1 file' {
        $files = Get-ChildItem -Path (Join-Path -Path $script:moduleRoot -ChildPath 'cmdlets') -Filter '*.ps1' |
            ForEach-Object -Process { $_.BaseName } | Sort-Object
        $exported = $script:manifest.ExportedFunctions.Keys | Sort-Object
        $exported | Should -Be $files
    }

    It 'exports the same commands once imported, and no aliases, cmdlets or variables' {
        $commands = Get-Command -Module BitsCompactServer | ForEach-Object -Process { $_.Name } | Sort-Object
        $commands | Should -Be ($script:manifest.ExportedFunctions.Keys | Sort-Object)
        $script:manifest.ExportedAliases.Count | Should -Be 0
        $script:manifest.ExportedCmdlets.Count | Should -Be 0
        $script:manifest.ExportedVariables.Count | Should -Be 0
    }

    It 'keeps private helpers private' {
        Get-Command -Name Invoke-BcsRpc -Module BitsCompactServer -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
    }

    It 'loads the format and types files' {
        $script:manifest.ExportedFormatFiles | ForEach-Object -Process { Split-Path -Path $_ -Leaf } |
            Should -Contain 'BitsCompactServer.Format.ps1xml'
        Get-FormatData -TypeName 'Bcs.Job' | Should -Not -BeNullOrEmpty
        Get-FormatData -TypeName 'Bcs.UrlGroup' | Should -Not -BeNullOrEmpty
        Get-FormatData -TypeName 'Bcs.Url' | Should -Not -BeNullOrEmpty
        Get-FormatData -TypeName 'Bcs.Server' | Should -Not -BeNullOrEmpty
        Get-FormatData -TypeName 'Bcs.SslCertificate' | Should -Not -BeNullOrEmpty
        Get-FormatData -TypeName 'Bcs.ScheduledTask' | Should -Not -BeNullOrEmpty
    }

    It 'has about_BitsCompactServer help in en-US' {
        # Get-Help finds about_ topics only for modules under $env:PSModulePath; read the file.
        $about = Join-Path -Path $script:moduleRoot -ChildPath 'en-US/about_BitsCompactServer.help.txt'
        Get-Content -LiteralPath $about -Raw | Should -BeLike 'TOPIC*about_BitsCompactServer*SEE ALSO*'
    }
}
