"""A throwaway PostgreSQL server for the deployment tests: Debian's server binaries, a cluster made by
initdb in a fresh temporary folder, run by an unprivileged user on a free loopback port, removed at stop.

PostgreSQL refuses to run as root. Run as root (as CI does), the cluster belongs to the `postgres` system
user that Debian's package creates (or `nobody`) and every server command runs through `runuser`; run as
anyone else, it belongs to that user. Clients log in over TCP on 127.0.0.1 with a password
(scram-sha-256), as the deployment's dagster.yaml does.

Test support, like standin.py: the tests import it as `pgserver`.
"""

from __future__ import annotations

import glob
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Self

from ci_pipeline.report.browser import CHROMIUM_ENV

REPO = Path(__file__).resolve().parents[1]
DEPLOY_INSTANCE = REPO / "deploy" / "dagster.yaml"
SERVER_PROGRAMS = ("initdb", "pg_ctl", "postgres")
SUPERUSER = "dagster"
START_TIMEOUT_SECONDS = 60


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL server binaries on this machine (or no user to run them as)."""


def server_bindir() -> Path:
    """The folder holding initdb, pg_ctl and postgres: on PATH, or Debian's /usr/lib/postgresql/<major>/bin."""
    on_path = [shutil.which(program) for program in SERVER_PROGRAMS]
    if all(on_path):
        folders = {Path(os.path.realpath(found)).parent for found in on_path}
        if len(folders) == 1:
            return folders.pop()
    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name),
                            reverse=True):
        if all((Path(candidate) / program).exists() for program in SERVER_PROGRAMS):
            return Path(candidate)
    raise PostgresUnavailable(
        "PostgreSQL server binaries (initdb, pg_ctl, postgres) not found on PATH or in /usr/lib/postgresql/*/bin; "
        "install Debian's `postgresql` package (.ci/run does)"
    )


def _server_user() -> str | None:
    """Who runs the server: None for the current user, or a system user when we are root."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            continue
    raise PostgresUnavailable("running as root, and neither a `postgres` nor a `nobody` user exists to run PostgreSQL")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class PostgresServer:
    """One running cluster; `env(db)` gives the DAGSTER_PG_* variables deploy/dagster.yaml reads."""

    bindir: Path
    root: Path
    user: str | None
    port: int = 0
    password: str = ""

    @classmethod
    def start(cls) -> Self:
        server = cls(bindir=server_bindir(), root=Path(tempfile.mkdtemp(prefix="ci_pipeline_pg_")), user=_server_user())
        try:
            server._init_and_start()
        except BaseException:
            server.stop()
            raise
        return server

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    def _as_server_user(self, *command: str | Path) -> list[str]:
        args = [str(part) for part in command]
        return args if self.user is None else ["runuser", "-u", self.user, "--", *args]

    def _run(self, *command: str | Path) -> None:
        done = subprocess.run(self._as_server_user(*command), capture_output=True, text=True, cwd=self.root,
                              check=False)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(map(str, command))} failed ({done.returncode}):\n{done.stdout}{done.stderr}")

    def _init_and_start(self) -> None:
        self.password = secrets.token_urlsafe(16)
        password_file = self.root / "password"
        password_file.write_text(self.password + "\n", encoding="utf-8")
        if self.user is not None:
            entry = pwd.getpwnam(self.user)
            for path in (self.root, password_file):
                os.chown(path, entry.pw_uid, entry.pw_gid)
        os.chmod(self.root, 0o700)
        self._run(self.bindir / "initdb", "-D", self.data_dir, "-U", SUPERUSER, "--pwfile", password_file,
                  "--auth=scram-sha-256", "--encoding=UTF8", "--locale=C", "--no-sync")
        password_file.unlink()
        # A taken port makes pg_ctl fail at once; another free port is then tried.
        for _ in range(5):
            self.port = _free_port()
            try:
                self._run(self.bindir / "pg_ctl", "-D", self.data_dir, "-l", self.root / "server.log", "-w",
                          "-t", str(START_TIMEOUT_SECONDS), "-o",
                          f"-c listen_addresses=127.0.0.1 -c port={self.port} -c unix_socket_directories='' "
                          "-c fsync=off -c max_connections=200", "start")
                return
            except RuntimeError:
                if "could not bind" not in self.log():
                    raise
        raise RuntimeError(f"PostgreSQL did not start on a free port:\n{self.log()}")

    def log(self) -> str:
        log = self.root / "server.log"
        return log.read_text(encoding="utf-8", errors="replace") if log.exists() else ""

    def connect(self, db_name: str = "postgres"):
        import psycopg2

        connection = psycopg2.connect(host="127.0.0.1", port=self.port, user=SUPERUSER, password=self.password,
                                      dbname=db_name)
        connection.autocommit = True
        return connection

    def execute(self, db_name: str, sql: str, params: tuple = ()) -> list[tuple]:
        """One statement in autocommit mode; the rows it returns (none for a command)."""
        connection = self.connect(db_name)
        try:
            with connection.cursor() as cursor:
                cursor.execute(sql, params)
                return cursor.fetchall() if cursor.description is not None else []
        finally:
            connection.close()

    def create_database(self, name: str) -> str:
        self.execute("postgres", f'CREATE DATABASE "{name}"')
        return name

    def env(self, db_name: str) -> dict[str, str]:
        """The connection settings deploy/dagster.yaml reads from the environment."""
        return {
            "DAGSTER_PG_HOST": "127.0.0.1",
            "DAGSTER_PG_PORT": str(self.port),
            "DAGSTER_PG_USER": SUPERUSER,
            "DAGSTER_PG_PASSWORD": self.password,
            "DAGSTER_PG_DB": db_name,
        }

    def stop(self) -> None:
        if (self.data_dir / "postmaster.pid").exists():
            subprocess.run(self._as_server_user(self.bindir / "pg_ctl", "-D", self.data_dir, "-m", "fast", "-w",
                                                "stop"), capture_output=True, cwd=self.root, check=False)
        shutil.rmtree(self.root, ignore_errors=True)


def deployment_env(home: Path, warehouse: Path, postgres_env: dict[str, str], **settings: str) -> dict[str, str]:
    """The process environment of a deployed `make run`: nothing inherited that could point elsewhere, but
    the tests' choice of browser (conftest: no PDFs in whole-pipeline runs)."""
    inherited = {k: v for k, v in os.environ.items()
                 if not k.startswith(("CI_PIPELINE_", "DAGSTER_")) or k == CHROMIUM_ENV}
    return {**inherited, "DAGSTER_HOME": str(home), "CI_PIPELINE_WAREHOUSE": str(warehouse), **postgres_env,
            **settings}


def deployed_home(root: Path) -> Path:
    home = root / "dagster_home"
    home.mkdir()
    shutil.copy(DEPLOY_INSTANCE, home / "dagster.yaml")
    return home
