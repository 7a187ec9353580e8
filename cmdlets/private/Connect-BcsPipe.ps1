function Connect-BcsPipe {
    <#
    .SYNOPSIS
    Connects to the engine's pipe and checks that the engine, not another user's impostor, serves it.

    .DESCRIPTION
    Any local user can create the pipe before the engine starts (on Linux and macOS the Unix socket
    $TMPDIR/CoreFxPipe_<name>, on Windows \\.\pipe\<name>) and collect what the cmdlets send, such
    as the credentials of Start-BcsJob. So the server is checked before anything is written:

    On Linux and macOS the pipe is opened with PipeOptions.CurrentUserOnly: .NET reads the uid of
    the process serving the socket (SO_PEERCRED, getpeereid on macOS) and refuses it unless it is
    the current user's. A root engine serves root only (its socket is 0600 and it refuses other
    uids), so this refuses nothing that could have worked.

    On Windows, PipeOptions.CurrentUserOnly does not exist in Windows PowerShell 5.1, and where it
    exists it compares the pipe's owner with the caller's token owner, which refuses an engine
    running as SYSTEM for an Administrator. Instead the user of the process that created the pipe
    (GetNamedPipeServerProcessId, then that process's token) must be SYSTEM or the current user.
    This Windows check has not been run on our machines (no Windows there).

    A refused server is disconnected before anything is sent and the function throws a
    System.Security.SecurityException whose message names the path and the owner. Otherwise a
    failed connection throws what NamedPipeClientStream.Connect threw (TimeoutException when
    nothing serves the pipe; UnauthorizedAccessException on Windows when the pipe's DACL refuses
    the caller).

    .PARAMETER PipeName
    The pipe name.

    .PARAMETER TimeoutMilliseconds
    How long to wait for the pipe.

    .EXAMPLE
    $pipe = Connect-BcsPipe -PipeName 'BitsCompactServer' -TimeoutMilliseconds 5000

    .OUTPUTS
    System.IO.Pipes.NamedPipeClientStream
    #>
    [CmdletBinding()]
    [OutputType([System.IO.Pipes.NamedPipeClientStream])]
    param(
        [Parameter(Mandatory)]
        [string]$PipeName,

        [Parameter()]
        [int]$TimeoutMilliseconds = 200
    )

    $onWindows = Test-BcsWindows
    $options = [System.IO.Pipes.PipeOptions]::None
    $path = '\\.\pipe\' + $PipeName
    if (-not $onWindows) {
        $options = [System.IO.Pipes.PipeOptions]::CurrentUserOnly
        $path = $PipeName
        if (-not $PipeName.StartsWith('/')) {
            $path = [System.IO.Path]::GetTempPath() + 'CoreFxPipe_' + $PipeName
        }
    }
    $pipe = New-Object -TypeName System.IO.Pipes.NamedPipeClientStream -ArgumentList '.', $PipeName, ([System.IO.Pipes.PipeDirection]::InOut), $options
    $server = $null
    try {
        $pipe.Connect($TimeoutMilliseconds)
        if ($onWindows) {
            $me = [System.Security.Principal.WindowsIdentity]::GetCurrent().User.Value
            $serverProcessId = [uint32]0
            try {
                if (-not ('Bcs.PipeServerUser' -as [type])) {
                    Add-Type -TypeDefinition @'
using System;
using System.ComponentModel;
using System.Runtime.InteropServices;
using System.Security.Principal;

namespace Bcs
{
    public static class PipeServerUser
    {
        [DllImport("kernel32.dll", SetLastError = true)]
        private static extern bool GetNamedPipeServerProcessId(IntPtr pipe, out uint processId);

        [DllImport("kernel32.dll", SetLastError = true)]
        private static extern IntPtr OpenProcess(uint access, bool inheritHandle, uint processId);

        [DllImport("advapi32.dll", SetLastError = true)]
        private static extern bool OpenProcessToken(IntPtr process, uint access, out IntPtr token);

        [DllImport("advapi32.dll", SetLastError = true)]
        private static extern bool GetTokenInformation(IntPtr token, int informationClass, IntPtr information, int length, out int returnLength);

        [DllImport("kernel32.dll", SetLastError = true)]
        private static extern bool CloseHandle(IntPtr handle);

        private const uint ProcessQueryLimitedInformation = 0x1000;
        private const uint TokenQuery = 0x0008;
        private const int TokenUser = 1;

        // The SID of the user of the process that created the server end of a connected pipe.
        public static string Get(IntPtr pipe, out uint processId)
        {
            if (!GetNamedPipeServerProcessId(pipe, out processId)) throw new Win32Exception();
            IntPtr process = OpenProcess(ProcessQueryLimitedInformation, false, processId);
            if (process == IntPtr.Zero) throw new Win32Exception();
            try
            {
                IntPtr token;
                if (!OpenProcessToken(process, TokenQuery, out token)) throw new Win32Exception();
                try
                {
                    int length;
                    GetTokenInformation(token, TokenUser, IntPtr.Zero, 0, out length);
                    IntPtr buffer = Marshal.AllocHGlobal(Math.Max(length, 1));
                    try
                    {
                        if (!GetTokenInformation(token, TokenUser, buffer, length, out length)) throw new Win32Exception();
                        return new SecurityIdentifier(Marshal.ReadIntPtr(buffer)).Value;
                    }
                    finally
                    {
                        Marshal.FreeHGlobal(buffer);
                    }
                }
                finally
                {
                    CloseHandle(token);
                }
            }
            finally
            {
                CloseHandle(process);
            }
        }
    }
}
'@
                }
                $serverSid = [Bcs.PipeServerUser]::Get($pipe.SafePipeHandle.DangerousGetHandle(), [ref]$serverProcessId)
                $server = "user $serverSid (pid $serverProcessId)"
                if ($serverSid -eq 'S-1-5-18' -or $serverSid -eq $me) {
                    $server = $null
                }
            }
            catch {
                $server = "a process whose user cannot be read ($($_.Exception.Message))"
            }
            if ($null -ne $server) {
                $server = "$server, not by SYSTEM or you ($me)"
            }
        }
    }
    catch [System.UnauthorizedAccessException] {
        $pipe.Dispose()
        if ($onWindows) {
            # The pipe's DACL refuses us: an engine of another user, not an impostor.
            throw
        }
        # Only CurrentUserOnly throws this on Unix (a refused connect is a SocketException):
        # another uid serves the socket. Name the socket's owner where PowerShell can read it.
        $owner = 'another user'
        $item = Get-Item -LiteralPath $path -Force -ErrorAction SilentlyContinue
        if ($null -ne $item -and $null -ne $item.PSObject.Properties['UnixStat']) {
            $owner = 'uid {0}' -f $item.UnixStat.UserId
        }
        elseif ($null -ne $item -and $null -ne $item.PSObject.Properties['User']) {
            $owner = 'user {0}' -f $item.User
        }
        $server = "a process of another user (the socket belongs to $owner), not by root or you ($([System.Environment]::UserName))"
    }
    catch {
        $pipe.Dispose()
        throw
    }
    if ($null -ne $server) {
        $pipe.Dispose()
        $message = "Refusing to talk to pipe '$PipeName' at ${path}: it is served by $server, so it is not your " +
        'engine (another local user may be impersonating it); nothing was sent. Stop that process, remove the ' +
        'pipe as root or Administrator, then run Start-BcsServer.'
        throw (New-Object -TypeName System.Security.SecurityException -ArgumentList $message)
    }
    $pipe
}
