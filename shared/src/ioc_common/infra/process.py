"""What the local servers share: free ports, waiting for a port, stopping, restarting."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_open(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def wait_for_port(
    host: str, port: int, timeout_s: float, proc: subprocess.Popen[bytes] | None, log: Path
) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(
                f"process exited with {proc.returncode} before opening {host}:{port}; "
                f"its log ({log}) ends with:\n{tail(log)}"
            )
        if port_open(host, port):
            return
        time.sleep(0.1)
    raise TimeoutError(
        f"{host}:{port} did not open within {timeout_s:.0f}s; log {log}:\n{tail(log)}"
    )


def tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def stop_process(
    proc: subprocess.Popen[bytes] | None, timeout_s: float = 20.0, sig: int = signal.SIGTERM
) -> None:
    """``sig`` (SIGTERM by default), then SIGKILL after ``timeout_s``."""
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(sig)
    try:
        proc.wait(timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


def kill_process(proc: subprocess.Popen[bytes] | None) -> None:
    """SIGKILL of the process and its group: the crash the fault tests inject."""
    if proc is not None and proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)


class LocalDaemon:
    """A server this process runs out of its own work folder (``LocalKafka``,
    ``LocalPostgres``): each starts and stops its own way; restarting and destroying are the
    same for all."""

    work_dir: Path

    def start(self) -> LocalDaemon:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def restart(self, down_for_s: float = 0.0) -> None:
        """Stop and start again on the same ports with the same data."""
        self.stop()
        time.sleep(down_for_s)
        self.start()

    def destroy(self) -> None:
        """Stop, and delete the work folder with all its data."""
        self.stop()
        shutil.rmtree(self.work_dir, ignore_errors=True)
