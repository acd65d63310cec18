"""A ``spacegrid <command>`` worker (pump, writer) as a child process, ended by PID only."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from tools.local.processes import free_ports

REPO = Path(__file__).resolve().parents[2]


@dataclass
class WorkerProcess:
    """Start, SIGKILL or stop one worker; each start logs to its own file in ``log_dir``."""

    env: dict[str, str]
    log_dir: Path
    proc: subprocess.Popen | None = None
    port: int = 0
    starts: int = 0
    command = "pump"

    def start(self) -> "WorkerProcess":
        self.port = free_ports(1)[0]
        self.starts += 1
        with open(self.log_dir / f"{self.command}-{id(self)}-{self.starts}.log", "wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "spacegrid.cli", self.command, "--loglevel", "warning"],
                env={**self.env, "SPACEGRID_HTTP_PORT": str(self.port)},
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=REPO,
            )
        return self

    def log_files(self) -> list[Path]:
        return sorted(self.log_dir.glob(f"{self.command}-{id(self)}-*.log"))

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()
