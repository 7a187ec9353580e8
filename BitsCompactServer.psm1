# BitsCompactServer module: dot-sources the private helpers, then one exported function per file.
# Nothing else lives here; the manifest (BitsCompactServer.psd1) lists the exports explicitly.

foreach ($file in Get-ChildItem -Path (Join-Path -Path $PSScriptRoot -ChildPath 'cmdlets/private') -Filter '*.ps1') {
    . $file.FullName
}
foreach ($file in Get-ChildItem -Path (Join-Path -Path $PSScriptRoot -ChildPath 'cmdlets') -Filter '*.ps1') {
    . $file.FullName
}
