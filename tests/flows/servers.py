"""Real Prefect and MLflow servers on 127.0.0.1 for the tests that need them."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_http(url: str, process: subprocess.Popen, timeout_s: float, log: Path) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited early ({process.returncode}): {log.read_text()}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise RuntimeError(f"server at {url} did not answer within {timeout_s}s: {log.read_text()}")


@contextmanager
def background_server(
    command: list[str], health_url: str, log: Path, env: dict[str, str], timeout_s: float = 180
) -> Iterator[None]:
    with log.open("w") as out:
        process = subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
    try:
        wait_for_http(health_url, process, timeout_s, log)
        yield
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def prefect_server(workdir: Path) -> Iterator[str]:
    """``prefect server start`` on a free loopback port; yields its PREFECT_API_URL."""
    port = free_port()
    env = dict(os.environ, PREFECT_HOME=str(workdir / "prefect-server-home"))
    command = [
        sys.executable,
        "-m",
        "prefect",
        "server",
        "start",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    api = f"http://127.0.0.1:{port}/api"
    with background_server(command, f"{api}/health", workdir / "prefect-server.log", env):
        yield api


@contextmanager
def mlflow_server(workdir: Path) -> Iterator[str]:
    """``mlflow server`` with a SQLite backend on a free loopback port; yields its URI."""
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "mlflow",
        "server",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--backend-store-uri",
        f"sqlite:///{workdir / 'server.db'}",
        "--artifacts-destination",
        str(workdir / "server-artifacts"),
        "--workers",
        "1",
    ]
    uri = f"http://127.0.0.1:{port}"
    with background_server(
        command, f"{uri}/health", workdir / "mlflow-server.log", dict(os.environ)
    ):
        yield uri
