"""`kit up`: embedded servers (unless external URLs are configured), then every service as its own
process (`<command> run <service>`), restarted if it dies, and the embedded servers restarted if
one dies; on SIGINT/SIGTERM everything it started is stopped.

The embedded nats-server lets no one in without a user: one per service and per agency of the
register, with the permissions of `deploy/nats/accounts.conf` (the same rendering), passwords
generated into the data directory (0600); each service process gets its own user's URL.

It says little: where the servers are, then the web app's address once the API answers. What the
servers say while starting goes to their log files (`kit.embedded`), the services log at
KIT_LOG_LEVEL (WARNING unless `kit up --verbose`); a server that fails to start is named with its
log file."""

from __future__ import annotations

import asyncio
import http.client
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable

from kit.config import Settings, database_url, nats_url, postgres_dir
from kit.embedded import EmbeddedNats, EmbeddedPostgres, ServerDidNotStart
from kit.nats_auth import ADMIN_USER, credentials
from kit.nats_permissions import render_accounts, service_user, users_of
from kit.nats_setup import prepare
from kit.service import Platform


def child_env(settings: Settings, user: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(KIT_NATS_URL=nats_url(settings, user), KIT_DATABASE_URL=database_url(settings),
               KIT_DATA_DIR=str(settings.data_dir))
    return env


class Supervisor:
    def __init__(self, settings: Settings, platform: Platform, command: list[str], agencies: list[str],
                 when_up: Callable[[Settings], None] | None = None, after_up: str | None = None):
        self.settings = settings
        self.platform = platform
        self.command = command  # how to run one service: this + ["run", <name>]
        self.when_up = when_up  # e.g. seed the demo, once the API answers
        self.after_up = after_up  # a line printed under the addresses (e.g. that the demo is being seeded)
        self.nats = None
        if not settings.nats_url:
            passwords = credentials(settings.data_dir, users_of(platform, agencies))
            self.nats = EmbeddedNats(settings.data_dir / "nats", settings.nats_port,
                                     accounts=render_accounts(platform, agencies), passwords=passwords)
        self.postgres = None if settings.database_url else EmbeddedPostgres(postgres_dir(settings))
        self.children: dict[str, subprocess.Popen[bytes]] = {}
        self.stopping = False

    def start_servers(self) -> None:
        self.settings.data_dir.mkdir(parents=True, exist_ok=True)
        if self.nats:
            self.nats.start()
            print(f"nats-server (JetStream) on {self.nats.url}, data in {self.nats.store_dir}", flush=True)
        if self.postgres:
            self.postgres.start()
            print(f"PostgreSQL in {self.postgres.pgdata} (setup log: {self.postgres.setup_log})", flush=True)
        asyncio.run(prepare(nats_url(self.settings, ADMIN_USER), self.platform))

    def processes(self) -> list[str]:
        """One process per declared service, more where it asks for them ("api", "api#2", …)."""
        return self.platform.processes(self.settings)

    def spawn(self, name: str) -> None:
        # Own session: a Ctrl-C reaches only the supervisor, which stops services before servers.
        service = self.platform.service(name.split("#")[0])
        self.children[name] = subprocess.Popen([*self.command, "run", service.name],
                                               env=child_env(self.settings, service_user(service)),
                                               start_new_session=True)

    def run(self) -> int:
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)
        try:
            try:
                self.start_servers()
            except ServerDidNotStart as e:
                print(f"error: {e}", file=sys.stderr, flush=True)
                return 1
            for name in self.processes():
                self.spawn(name)
            self._announce()
            if self.when_up is not None and not self.stopping:  # e.g. seeds in a thread; we keep supervising
                self.when_up(self.settings)
            while not self.stopping:
                self._keep_servers()
                for name, proc in list(self.children.items()):
                    if proc.poll() is not None and not self.stopping:
                        print(f"service {name} exited with {proc.returncode}; restarting", flush=True)
                        time.sleep(1)
                        self.spawn(name)
                time.sleep(0.2)
        finally:
            self.stop()
        return 0

    def _keep_servers(self) -> None:
        """An embedded server that died is started again (the services reconnect by themselves):
        nats-server is our child (its exit is reaped here); PostgreSQL runs detached, so its own
        process is looked at."""
        if self.nats is not None and not self.nats.alive() and not self.stopping:
            print(f"nats-server exited with {self.nats.process.returncode}; restarting", flush=True)
            self.nats.start()
        if self.postgres is not None and not self.postgres.alive() and not self.stopping:
            print("PostgreSQL is not running; restarting", flush=True)
            self.postgres.stop()
            self.postgres.start()

    def addresses(self) -> str:
        """What `kit up` says once the API answers: the operators' web app first."""
        url = f"http://{self.settings.http_host}:{self.settings.http_port}"
        lines = ["KiT platform is up.",
                 f"  Web app:  {url}/   (operators sign in here)",
                 f"  API docs: {url}/docs",
                 f"  Health:   {url}/health"]
        if self.after_up:
            lines.append(self.after_up)
        lines.append("Ctrl-C stops everything.")
        return "\n".join(lines)

    def _announce(self) -> None:
        url = f"http://{self.settings.http_host}:{self.settings.http_port}"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not self.stopping:
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=1):
                    print(self.addresses(), flush=True)
                    return
            except (OSError, http.client.HTTPException):  # not up yet, or something else answers there
                time.sleep(0.2)
        if not self.stopping:
            print(f"warning: {url}/health does not answer yet; services keep starting (`kit up --verbose` shows"
                  " their logs)", flush=True)

    def _on_signal(self, signum, frame) -> None:
        self.stopping = True

    def stop(self) -> None:
        self.stopping = True
        for proc in self.children.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 15
        for proc in self.children.values():
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self.nats:
            self.nats.stop()
        if self.postgres:
            self.postgres.stop()
        print("KiT platform stopped.", flush=True)
