@{
    RootModule           = 'BitsCompactServer.psm1'
    ModuleVersion        = '0.1.0'
    GUID                 = '799ec17d-56d7-4cc6-b637-f4771292a347'
    Author               = 'BITS Compact Server maintainers'
    CompanyName          = 'BITS Compact Server'
    Copyright            = '(c) BITS Compact Server maintainers. MIT License.'
    Description          = 'BITS Compact Server and BITS client for Windows and Linux: host files in URL groups and run background transfer jobs, managed over a named pipe by a Python engine.'
    PowerShellVersion    = '5.1'
    CompatiblePSEditions = @('Desktop', 'Core')
    FormatsToProcess     = @('BitsCompactServer.Format.ps1xml')
    TypesToProcess       = @('BitsCompactServer.Types.ps1xml')
    FunctionsToExport    = @(
        'Add-BcsFile'
        'Add-BcsUrl'
        'Complete-BcsJob'
        'Export-BcsConfiguration'
        'Get-BcsAuthentication'
        'Get-BcsJob'
        'Get-BcsServer'
        'Get-BcsSslCertificate'
        'Get-BcsUrl'
        'Get-BcsUploadSession'
        'Get-BcsUrlGroup'
        'Import-BcsConfiguration'
        'Register-BcsScheduledTask'
        'New-BcsUrlGroup'
        'Remove-BcsJob'
        'Remove-BcsSslCertificate'
        'Remove-BcsUploadSession'
        'Remove-BcsUrl'
        'Remove-BcsUrlGroup'
        'Resume-BcsJob'
        'Set-BcsAuthentication'
        'Set-BcsJob'
        'Set-BcsServer'
        'Set-BcsSslCertificate'
        'Set-BcsUrlGroup'
        'Start-BcsJob'
        'Start-BcsServer'
        'Stop-BcsServer'
        'Suspend-BcsJob'
        'Unregister-BcsScheduledTask'
        'Wait-BcsJob'
    )
    CmdletsToExport      = @()
    VariablesToExport    = @()
    AliasesToExport      = @()
    FileList             = @('BitsCompactServer.psd1', 'BitsCompactServer.psm1', 'BitsCompactServer.Format.ps1xml', 'BitsCompactServer.Types.ps1xml')
    PrivateData          = @{
        PSData = @{
            Tags         = @('BITS', 'BitsTransfer', 'CompactServer', 'FileTransfer', 'Download', 'Upload', 'HTTP', 'Windows', 'Linux', 'PSEdition_Desktop', 'PSEdition_Core')
            ReleaseNotes = 'First release: URL groups, URLs, BITS client jobs, server settings and configuration export/import.'
        }
    }
}
