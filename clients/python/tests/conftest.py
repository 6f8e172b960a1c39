"""Fixtures: the real duckgrid binary on a free loopback port: the built-in
demo seeded small, or one of the example models (examples/*/model.toml)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest

import duckgrid_client as dg

SEED = 7
FACTS = 5000
PRODUCT = "sheets/sales_by_product_family"
REGION = "sheets/sales_by_region"

#: The repository's example models (clients/python/tests -> the repository root).
EXAMPLES = Path(__file__).resolve().parents[3] / "examples"
BUDGET_MODEL = EXAMPLES / "budget" / "model.toml"
RETAIL_MODEL = EXAMPLES / "retail" / "model.toml"


def binary() -> Path:
    """$DUCKGRID_BIN, or scripts/env.sh's default."""
    env = os.environ.get("DUCKGRID_BIN")
    if env:
        path = Path(env)
    else:
        target = os.environ.get("CARGO_TARGET_DIR") or str(Path.home() / ".cache/duckgrid/target")
        path = Path(target) / "debug" / "duckgrid"
    if not (path.is_file() and os.access(path, os.X_OK)):
        pytest.fail(f"duckgrid binary not found at {path}: build the server first (cargo build) or set DUCKGRID_BIN")
    return path


@dataclass
class Server:
    addr: str
    process: subprocess.Popen[bytes]
    log: Path

    def log_tail(self, n: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])

    def stop(self) -> None:
        """SIGTERM, then up to 10 s for a graceful exit (killed and reported otherwise)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
                raise AssertionError("duckgrid did not exit within 10s of SIGTERM")
        if self.process.returncode != 0:
            raise AssertionError(f"duckgrid exited with {self.process.returncode} after SIGTERM:\n{self.log_tail()}")


def start_server(workdir: Path, model: Path | None = None, extra: Sequence[str] = ()) -> Server:
    """Starts ``duckgrid serve`` in memory: the built-in demo (seed 7, 5000
    facts), or the model file ``model`` when given; ``extra`` are further
    flags (``--auth-file``, ``--tls-cert``, ...)."""
    addr_file = workdir / "addr"
    addr_file.unlink(missing_ok=True)
    log = workdir / "server.log"
    if model is None:
        source = ["--seed", str(SEED), "--facts", str(FACTS)]
    else:
        if not model.is_file():
            pytest.fail(f"model file not found: {model}")
        source = ["--model", str(model)]
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(binary()), "serve", "--listen", "127.0.0.1:0", "--db", ":memory:", *source,
             "--addr-file", str(addr_file), "--progress-interval-ms", "200", *extra],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )
    server = Server("", process, log)
    deadline = time.monotonic() + 180
    while True:
        if addr_file.exists():
            addr = addr_file.read_text().strip()
            if re.fullmatch(r"[^\s:]+:\d+", addr):
                server.addr = addr
                return server
        if process.poll() is not None:
            pytest.fail(f"duckgrid exited ({process.returncode}) before serving:\n{server.log_tail()}")
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"duckgrid did not write {addr_file} within 180s:\n{server.log_tail()}")
        time.sleep(0.05)


@pytest.fixture(scope="session")
def server() -> Iterator[Server]:
    """One server for the suite; tests read before they write, so they
    tolerate each other's edits. The canonical edit script uses its own."""
    with tempfile.TemporaryDirectory(prefix="duckgrid-py-test-") as tmp:
        s = start_server(Path(tmp))
        yield s
        s.stop()


@pytest.fixture(scope="session")
def channel(server: Server) -> Iterator[grpc.Channel]:
    with dg.connect(server.addr) as ch:
        yield ch


@pytest.fixture(scope="session")
def stub(channel: grpc.Channel) -> dg.pb_grpc.GridServiceStub:
    return dg.pb_grpc.GridServiceStub(channel)


def _model_server(model: Path) -> Iterator[Server]:
    with tempfile.TemporaryDirectory(prefix="duckgrid-py-test-") as tmp:
        s = start_server(Path(tmp), model)
        yield s
        s.stop()


@pytest.fixture(scope="session")
def budget_server() -> Iterator[Server]:
    """A server of examples/budget/model.toml, shared like ``server``."""
    yield from _model_server(BUDGET_MODEL)


@pytest.fixture(scope="session")
def retail_server() -> Iterator[Server]:
    """A server of examples/retail/model.toml, shared like ``server``."""
    yield from _model_server(RETAIL_MODEL)


@pytest.fixture(scope="session")
def budget(budget_server: Server) -> Iterator[dg.pb_grpc.GridServiceStub]:
    with dg.connect(budget_server.addr) as ch:
        yield dg.pb_grpc.GridServiceStub(ch)


@pytest.fixture(scope="session")
def retail(retail_server: Server) -> Iterator[dg.pb_grpc.GridServiceStub]:
    with dg.connect(retail_server.addr) as ch:
        yield dg.pb_grpc.GridServiceStub(ch)


@contextmanager
def running(watcher: dg.SheetWatcher, on_update: Callable[[dg.Update], None] | None = None) -> Iterator[list[BaseException]]:
    """Runs ``watcher`` on a thread for the block; yields the errors it raised
    (to wait on), then stops it and checks it ended cleanly."""
    errors: list[BaseException] = []

    def run() -> None:
        try:
            watcher.run(on_update)
        except BaseException as e:  # reported below
            errors.append(e)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield errors
    finally:
        watcher.stop()
        thread.join(10)
    assert not thread.is_alive()
    assert not errors, errors


def wait_for(what: str, cond: Callable[[], bool], timeout: float = 20.0) -> None:
    """Polls ``cond`` until it holds; fails the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.02)
