"""Real app servers for the guard tests: the examples under uvicorn / waitress, and the demo."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Optional

from servers import free_port, run_env, wait_for_port

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"

# How each example is served: a real ASGI server for FastAPI, a real WSGI server for Flask.
SERVE = {
    "fastapi": lambda port: [
        sys.executable,
        "-m",
        "uvicorn",
        "fastapi_app:app",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "warning",
    ],
    "flask": lambda port: [
        sys.executable,
        "-m",
        "waitress",
        f"--listen=127.0.0.1:{port}",
        "flask_app:app",
    ],
}


class AppServer:
    """One server process on a free loopback port; its stderr (audit log) kept in a file."""

    def __init__(
        self, argv: Sequence[str], env: Mapping[str, str], port: int, cwd: Path = EXAMPLES
    ) -> None:
        self.port = port
        self.log = tempfile.NamedTemporaryFile(prefix="ravelin-app-", suffix=".log", delete=False)
        self.proc = subprocess.Popen(
            list(argv),
            cwd=cwd,
            env={**run_env(), **env},
            stdout=subprocess.PIPE,
            stderr=self.log,
            text=True,
        )
        try:
            wait_for_port(port, timeout=30)
        except RuntimeError:
            self.stop()
            raise RuntimeError(f"{argv} did not start:\n{self.logs()}") from None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def logs(self) -> str:
        return Path(self.log.name).read_text(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        if self.proc.stdout is not None:
            self.proc.stdout.close()

    def close(self) -> None:
        self.stop()
        self.log.close()
        os.unlink(self.log.name)


def serve_example(framework: str, env: Mapping[str, str], port: Optional[int] = None) -> AppServer:
    """The FastAPI or Flask example app, configured by ``RAVELIN_*`` variables in ``env``."""
    port = port or free_port()
    return AppServer(SERVE[framework](port), env, port)
