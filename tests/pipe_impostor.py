"""Another local user (uid 65534, ``nobody``) squatting an engine's pipe path: issue #11 section 1.

The impostor is a real process of another uid: it binds ``/tmp/CoreFxPipe_<name>`` (and, if asked,
creates and flocks the lock file beside it, as an engine would) before the engine starts, then
records every byte clients send it and answers like an engine would, so that a client that does
not check who serves the pipe completes its call and hands over what it sent.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys

NOBODY = 65534

_CODE = r"""
import fcntl, os, socket, sys
path, with_lock = sys.argv[1], sys.argv[2] == "1"
os.setgroups([]); os.setgid(65534); os.setuid(65534)  # after the imports: /root (the stdlib) is 0700
if with_lock:
    lock = open(path + ".lock", "w")
    fcntl.flock(lock, fcntl.LOCK_EX)
    lock.write(str(os.getpid())); lock.flush()
srv = socket.socket(socket.AF_UNIX)
srv.bind(path)
srv.listen(8)
srv.settimeout(30)
print("ready", flush=True)
got = b""
try:
    while sys.stdin.readline():  # one line from the test per connection to wait for
        conn, _ = srv.accept()
        conn.settimeout(5)
        data = b""
        try:
            while b"\n" not in data:
                chunk = conn.recv(65536)
                if not chunk:
                    break
                data += chunk
            if data:
                conn.sendall(b'{"jsonrpc":"2.0","id":1,"result":{"jobId":"{00000000-0000-0000-0000-000000000000}"}}\n')
        except OSError:
            pass
        got += data
        conn.close()
        print("received", got.hex(), flush=True)
except OSError:
    pass
"""


class Impostor:
    """The squatter's process; ``expect_connection`` then ``received`` tell what a client sent it."""

    def __init__(self, path: str, with_lock: bool = False) -> None:
        self.path = path
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _CODE, path, "1" if with_lock else "0"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        assert line.strip() == "ready", self.proc.stderr.read() if self.proc.stderr else line

    def expect_connection(self) -> None:
        """Let the impostor accept (and answer) one connection."""
        assert self.proc.stdin is not None
        self.proc.stdin.write("accept\n")
        self.proc.stdin.flush()

    def received(self) -> bytes:
        """Every byte clients sent so far (after the connection that ``expect_connection`` allowed)."""
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().split()
        assert line and line[0] == "received", line
        return bytes.fromhex(line[1]) if len(line) > 1 else b""

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait()
        for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()
        for leftover in (self.path, self.path + ".lock"):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(leftover)


def can_switch_uid() -> bool:
    return os.geteuid() == 0
