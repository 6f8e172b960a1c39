"""Bearer tokens, TLS and mutual TLS against the real server. Every server
here is started by this module, with certificates from ``duckgrid certs new``
and keys from ``duckgrid keys new`` in a temporary directory:

- ``tls_server``: ``--auth-file`` + ``--tls-cert``/``--tls-key``;
- ``plain_auth_server``: ``--auth-file`` over plaintext;
- ``mtls_server``: ``--auth-file`` (carol by her certificate) + ``--client-ca``.
"""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest

import duckgrid_client as dg
from conftest import PRODUCT, Server, binary, running, start_server, wait_for

pb = dg.pb
Stub = dg.pb_grpc.GridServiceStub
TIMEOUT = 30.0


# -- certificates, keys and servers ------------------------------------------------


def run_binary(*args: str) -> str:
    out = subprocess.run([str(binary()), *args], capture_output=True, text=True, timeout=120,
                         stdin=subprocess.DEVNULL)
    assert out.returncode == 0, f"duckgrid {' '.join(args)} exited {out.returncode}:\n{out.stderr}{out.stdout}"
    return out.stdout


@dataclass(frozen=True)
class Key:
    subject: str
    token: str
    #: The ``[[principal]]`` entry for the keys file.
    entry: str


def new_key(subject: str, role: str, *, spread: bool = False) -> Key:
    """``duckgrid keys new``: the token from its ``#   dg_...`` line, and the entry."""
    out = run_binary("keys", "new", "--subject", subject, "--role", role, *(["--spread"] if spread else []))
    token = re.search(r"^#\s+(dg_[0-9a-f]{64})\s*$", out, re.MULTILINE)
    assert token is not None, f"no token line in the output of keys new:\n{out}"
    start = out.find("[[principal]]")
    assert start >= 0, f"no [[principal]] entry in the output of keys new:\n{out}"
    return Key(subject, token.group(1), out[start:])


@dataclass(frozen=True)
class Certs:
    dir: Path

    @property
    def ca(self) -> Path:
        return self.dir / "ca.pem"

    @property
    def server(self) -> list[str]:
        return ["--tls-cert", str(self.dir / "server.pem"), "--tls-key", str(self.dir / "server.key")]

    def client(self, name: str) -> tuple[Path, Path]:
        return self.dir / f"client-{name}.pem", self.dir / f"client-{name}.key"


def new_certs(out: Path, clients: Sequence[str] = ()) -> Certs:
    """``duckgrid certs new``: a fresh CA, the server's certificate and ``clients``'."""
    run_binary("certs", "new", "--out", str(out), *(a for name in clients for a in ("--client", name)))
    certs = Certs(out)
    for path in (certs.ca, out / "server.pem", out / "server.key", *(p for n in clients for p in certs.client(n))):
        assert path.is_file(), f"certs new did not write {path}"
    return certs


@dataclass(frozen=True)
class Setup:
    certs: Certs
    #: Another CA, with a client certificate for carol too: trusted by nobody here.
    other: Certs
    alice: Key  # writer (leaf cells only)
    wendy: Key  # writer allowed to spread
    rita: Key  # reader
    keys_file: Path
    #: carol by her certificate's Common Name, and alice by her token.
    mtls_keys_file: Path


CAROL_BY_CERTIFICATE = """
[[principal]]
id = "carol-cert"
subject = "carol"
role = "writer"
certificate = "carol"
"""


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Setup:
    tmp = tmp_path_factory.mktemp("auth-tls")
    certs = new_certs(tmp / "certs", ["carol"])
    other = new_certs(tmp / "other", ["carol"])
    alice, wendy, rita = new_key("alice", "writer"), new_key("wendy", "writer", spread=True), new_key("rita", "reader")
    keys_file = tmp / "keys.toml"
    keys_file.write_text("\n".join(k.entry for k in (alice, wendy, rita)))
    mtls_keys_file = tmp / "mtls-keys.toml"
    mtls_keys_file.write_text(CAROL_BY_CERTIFICATE + "\n" + alice.entry)
    return Setup(certs, other, alice, wendy, rita, keys_file, mtls_keys_file)


def _serve(tmp_path_factory: pytest.TempPathFactory, name: str, extra: list[str]) -> Iterator[Server]:
    s = start_server(tmp_path_factory.mktemp(name), extra=extra)
    yield s
    s.stop()


@pytest.fixture(scope="module")
def tls_server(setup: Setup, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    yield from _serve(tmp_path_factory, "tls-server", ["--auth-file", str(setup.keys_file), *setup.certs.server])


@pytest.fixture(scope="module")
def plain_auth_server(setup: Setup, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    yield from _serve(tmp_path_factory, "plain-auth-server", ["--auth-file", str(setup.keys_file)])


@pytest.fixture(scope="module")
def mtls_server(setup: Setup, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    yield from _serve(tmp_path_factory, "mtls-server", [
        "--auth-file", str(setup.mtls_keys_file), *setup.certs.server, "--client-ca", str(setup.certs.ca)])


# -- helpers -------------------------------------------------------------------------


def tls(server: Server, setup: Setup, token: str | None = None, **kw: Any) -> grpc.Channel:
    """A TLS channel trusting the suite's CA (a path), with ``token`` if given."""
    return dg.connect(server.addr, token=token, root_certificates=setup.certs.ca, **kw)


def leaf(stub: Stub) -> tuple[str, ...]:
    grid = stub.GetSheet(pb.GetSheetRequest(name=PRODUCT, measures=["quantity"], columns=["total"]), timeout=TIMEOUT).grid
    return tuple(dg.first_leaf(grid).path)


def value(stub: Stub, path: Sequence[str], column: str, measure: str) -> str:
    grid = stub.GetSheet(pb.GetSheetRequest(name=PRODUCT, measures=[measure], columns=[column]), timeout=TIMEOUT).grid
    local = dg.LocalGrid.from_proto(grid)
    v = local.value(path, column, measure)
    assert v is not None, f"no cell [{dg.format_path(path)}] {column} {measure}"
    return v


def write(stub: Stub, path: Sequence[str], column: str, measure: str, v: str,
          metadata: Sequence[tuple[str, str]] = ()) -> pb.UpdateCellResponse:
    edit = pb.CellEdit(cell=dg.cell(PRODUCT, path, column, measure), value=v)
    resp: pb.UpdateCellResponse = stub.UpdateCell(pb.UpdateCellRequest(edit=edit), metadata=tuple(metadata),
                                                  timeout=TIMEOUT)
    return resp


def change_at(stub: Stub, revision: int) -> pb.ChangeEvent:
    """The change event of ``revision``, read back with a watch (a stream: the
    channel's token goes on streams too)."""
    call = stub.WatchUpdates(pb.WatchUpdatesRequest(sheet=PRODUCT, start_revision=revision), timeout=TIMEOUT)
    try:
        for msg in call:
            if msg.WhichOneof("kind") == "change":
                assert msg.change.revision == revision
                change: pb.ChangeEvent = msg.change
                return change
    finally:
        call.cancel()
    pytest.fail(f"the watch from revision {revision} ended without a change")


def refused(call: Callable[[], object], code: grpc.StatusCode, reason: str | None = None) -> grpc.RpcError:
    """Runs ``call``, which must fail with ``code`` (and ErrorInfo ``reason``, domain duckgrid)."""
    with pytest.raises(grpc.RpcError) as caught:
        call()
    err = caught.value
    assert isinstance(err, grpc.Call)
    assert err.code() == code, f"{err.code()}: {err.details()}"
    if reason is not None:
        info = dg.error_info(err)
        assert info is not None, f"no ErrorInfo in {err.code()}: {err.details()}"
        assert (info.domain, info.reason) == (dg.ERROR_DOMAIN, reason), f"{info}"
    return err


def list_call(stub: Stub) -> Callable[[], object]:
    return lambda: stub.ListSheets(pb.ListSheetsRequest(), timeout=TIMEOUT)


# -- connect's options, without a server ------------------------------------------------


def test_connect_checks_its_options(tmp_path: Path) -> None:
    pem = b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
    with pytest.raises(ValueError, match="certificate_chain and private_key"):
        dg.connect("127.0.0.1:1", root_certificates=pem, certificate_chain=pem)
    with pytest.raises(ValueError, match="certificate_chain and private_key"):
        dg.connect("127.0.0.1:1", private_key=pem)
    with pytest.raises(ValueError, match="tls=False"):
        dg.connect("127.0.0.1:1", tls=False, root_certificates=pem)
    with pytest.raises(ValueError, match="not PEM"):
        dg.connect("127.0.0.1:1", root_certificates=b"\x30\x82\x01\x0a")
    with pytest.raises(FileNotFoundError, match="root_certificates"):
        dg.connect("127.0.0.1:1", root_certificates=tmp_path / "missing.pem")
    with pytest.raises(ValueError, match="empty"):
        dg.connect("127.0.0.1:1", token=" ")
    with pytest.raises(ValueError, match="without 'Bearer '"):
        dg.connect("127.0.0.1:1", token="Bearer dg_00")
    assert dg.bearer_metadata(" dg_ab\n") == (("authorization", "Bearer dg_ab"),)


# -- auth + TLS ---------------------------------------------------------------------------


def test_tls_writer_token_reads_and_writes_as_its_subject(tls_server: Server, setup: Setup) -> None:
    with tls(tls_server, setup, setup.alice.token) as ch:
        stub = Stub(ch)
        names = [s.name for s in dg.list_sheets(stub)]
        assert PRODUCT in names
        grid = stub.GetSheet(pb.GetSheetRequest(name=PRODUCT), timeout=TIMEOUT).grid
        assert grid.rows and grid.columns
        path = tuple(dg.first_leaf(grid).path)
        resp = write(stub, path, "2024-02", "quantity", "41")
        assert resp.result.new_value == "41"
        assert value(stub, path, "2024-02", "quantity") == "41"
        event = change_at(stub, resp.revision)
        assert event.actor == setup.alice.subject
        assert [e.value for e in event.edits] == ["41"]


def test_tls_without_token_is_missing_credentials(tls_server: Server, setup: Setup) -> None:
    with tls(tls_server, setup) as ch:
        stub = Stub(ch)
        err = refused(list_call(stub), grpc.StatusCode.UNAUTHENTICATED, "MISSING_CREDENTIALS")
        assert "Bearer" in (err.details() or "")
        refused(lambda: next(iter(stub.WatchUpdates(pb.WatchUpdatesRequest(sheet=PRODUCT, send_snapshot=True),
                                                    timeout=TIMEOUT))),
                grpc.StatusCode.UNAUTHENTICATED, "MISSING_CREDENTIALS")


def test_tls_wrong_token_is_invalid_token(tls_server: Server, setup: Setup) -> None:
    with tls(tls_server, setup, "dg_" + secrets.token_hex(32)) as ch:
        refused(list_call(Stub(ch)), grpc.StatusCode.UNAUTHENTICATED, "INVALID_TOKEN")


def test_tls_reader_reads_but_may_not_write(tls_server: Server, setup: Setup) -> None:
    with tls(tls_server, setup, setup.rita.token) as ch:
        stub = Stub(ch)
        path = leaf(stub)
        before = value(stub, path, "2024-03", "net_amount")
        new = "1.23" if before != "1.23" else "4.56"
        refused(lambda: write(stub, path, "2024-03", "net_amount", new),
                grpc.StatusCode.PERMISSION_DENIED, "ROLE_NOT_ALLOWED")
        assert value(stub, path, "2024-03", "net_amount") == before


def test_tls_writer_without_spread_may_not_write_an_aggregate(tls_server: Server, setup: Setup) -> None:
    with tls(tls_server, setup, setup.alice.token) as ch:
        stub = Stub(ch)
        parent = leaf(stub)[:-1]
        before = value(stub, parent, "2024-04", "quantity")
        refused(lambda: write(stub, parent, "2024-04", "quantity", "123456"),
                grpc.StatusCode.PERMISSION_DENIED, "SPREADING_NOT_ALLOWED")
        assert value(stub, parent, "2024-04", "quantity") == before


def test_tls_non_admin_may_not_name_another_actor(tls_server: Server, setup: Setup) -> None:
    with tls(tls_server, setup, setup.alice.token) as ch:
        stub = Stub(ch)
        path = leaf(stub)
        refused(lambda: write(stub, path, "2024-05", "quantity", "5", metadata=dg.actor_metadata("mallory")),
                grpc.StatusCode.PERMISSION_DENIED, "IMPERSONATION_NOT_ALLOWED")


def test_tls_call_metadata_token_overrides_the_channel_token(tls_server: Server, setup: Setup) -> None:
    with tls(tls_server, setup, setup.rita.token) as ch:
        stub = Stub(ch)
        path = leaf(stub)
        refused(lambda: write(stub, path, "2024-06", "quantity", "66"),
                grpc.StatusCode.PERMISSION_DENIED, "ROLE_NOT_ALLOWED")
        resp = write(stub, path, "2024-06", "quantity", "66", metadata=dg.bearer_metadata(setup.wendy.token))
        assert change_at(stub, resp.revision).actor == setup.wendy.subject


def test_tls_certificates_as_bytes_text_or_path(tls_server: Server, setup: Setup) -> None:
    ca = setup.certs.ca.read_bytes()
    for root in (ca, ca.decode(), str(setup.certs.ca)):
        with dg.connect(tls_server.addr, token=setup.rita.token, root_certificates=root) as ch:
            assert PRODUCT in [s.name for s in dg.list_sheets(Stub(ch))]


def test_tls_client_that_does_not_trust_the_ca_cannot_connect(tls_server: Server, setup: Setup) -> None:
    with dg.connect(tls_server.addr, token=setup.alice.token, root_certificates=setup.other.ca) as ch:
        refused(list_call(Stub(ch)), grpc.StatusCode.UNAVAILABLE)
    with dg.connect(tls_server.addr, token=setup.alice.token) as ch:  # plaintext to a TLS server
        refused(list_call(Stub(ch)), grpc.StatusCode.UNAVAILABLE)


def test_tls_server_name_override(tls_server: Server, setup: Setup) -> None:
    with tls(tls_server, setup, setup.rita.token, server_name="localhost") as ch:  # a SAN of server.pem
        assert PRODUCT in [s.name for s in dg.list_sheets(Stub(ch))]
    with tls(tls_server, setup, setup.rita.token, server_name="not-this-server.invalid") as ch:
        refused(list_call(Stub(ch)), grpc.StatusCode.UNAVAILABLE)


def test_tls_watcher_keeps_copy_equal_to_get_sheet(tls_server: Server, setup: Setup) -> None:
    with tls(tls_server, setup, setup.wendy.token) as ch:
        stub = Stub(ch)
        path = leaf(stub)
        watcher = dg.SheetWatcher(stub, PRODUCT, min_backoff=0.02)
        actors: dict[int, str] = {}

        def on_update(u: dg.Update) -> None:
            if u.change is not None:
                actors[u.change.revision] = u.change.actor

        with running(watcher, on_update) as errors:
            wait_for("the snapshot", lambda: watcher.revision >= 0 or bool(errors))
            assert not errors, errors
            ra = write(stub, path, "2025-01", "net_amount", "250.00").revision
            wait_for("the write", lambda: watcher.revision >= ra or bool(errors))
            assert watcher.value(path, "2025-01", "net_amount") == "250.00"

            watcher.drop_stream()  # resumes over the same authenticated TLS channel
            rb = write(stub, path[:1], "2025-02", "quantity", "7000").revision  # an aggregate: wendy spreads
            wait_for("the spread", lambda: watcher.revision >= rb or bool(errors))
            assert not errors, errors
            assert watcher.diff(stub.GetSheet(pb.GetSheetRequest(name=PRODUCT), timeout=TIMEOUT).grid) == []
            assert watcher.reconnects >= 1
            assert actors.get(ra) == actors.get(rb) == setup.wendy.subject, actors


# -- a token over plaintext ----------------------------------------------------------------


def test_plaintext_token_on_calls_and_streams(plain_auth_server: Server, setup: Setup) -> None:
    with dg.connect(plain_auth_server.addr) as ch:
        refused(list_call(Stub(ch)), grpc.StatusCode.UNAUTHENTICATED, "MISSING_CREDENTIALS")
    with dg.connect(plain_auth_server.addr, token=setup.alice.token) as ch:
        stub = Stub(ch)
        path = leaf(stub)
        resp = write(stub, path, "2024-07", "quantity", "17")
        assert value(stub, path, "2024-07", "quantity") == "17"
        assert change_at(stub, resp.revision).actor == setup.alice.subject


# -- mutual TLS -------------------------------------------------------------------------------


def test_mtls_client_certificate_is_the_identity(mtls_server: Server, setup: Setup) -> None:
    cert, key = setup.certs.client("carol")
    with tls(mtls_server, setup, certificate_chain=cert, private_key=key.read_bytes()) as ch:
        stub = Stub(ch)
        path = leaf(stub)
        resp = write(stub, path, "2024-08", "quantity", "18")
        assert value(stub, path, "2024-08", "quantity") == "18"
        assert change_at(stub, resp.revision).actor == "carol"


def test_mtls_token_wins_over_the_certificate(mtls_server: Server, setup: Setup) -> None:
    cert, key = setup.certs.client("carol")
    with tls(mtls_server, setup, setup.alice.token, certificate_chain=cert, private_key=key) as ch:
        stub = Stub(ch)
        resp = write(stub, leaf(stub), "2024-09", "quantity", "19")
        assert change_at(stub, resp.revision).actor == setup.alice.subject


def test_mtls_without_client_certificate_cannot_connect(mtls_server: Server, setup: Setup) -> None:
    with tls(mtls_server, setup) as ch:
        refused(list_call(Stub(ch)), grpc.StatusCode.UNAVAILABLE)
    with tls(mtls_server, setup, setup.alice.token) as ch:  # a valid token does not replace the certificate
        refused(list_call(Stub(ch)), grpc.StatusCode.UNAVAILABLE)


def test_mtls_certificate_of_another_ca_cannot_connect(mtls_server: Server, setup: Setup) -> None:
    cert, key = setup.other.client("carol")  # the right name, signed by the wrong CA
    with tls(mtls_server, setup, certificate_chain=cert, private_key=key) as ch:
        refused(list_call(Stub(ch)), grpc.StatusCode.UNAVAILABLE)


# -- the examples ----------------------------------------------------------------------------


def example(name: str, *args: str) -> list[str]:
    return [sys.executable, "-m", f"duckgrid_client.examples.{name}", *args]


def example_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "DUCKGRID_TOKEN"}
    env.update(extra)
    return env


def test_examples_over_tls_with_a_token(tls_server: Server, setup: Setup) -> None:
    ca = str(setup.certs.ca)
    watch = subprocess.Popen(
        example("watch", "--addr", tls_server.addr, "--ca", ca, "--sheet", PRODUCT, "--changes", "1"),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=example_env(DUCKGRID_TOKEN=setup.rita.token),
    )
    try:
        assert watch.stdout is not None
        first = watch.stdout.readline()
        assert first.startswith(f"snapshot {PRODUCT} at revision "), first + (watch.stderr.read() if watch.stderr else "")

        denied = subprocess.run(
            example("update", "--addr", tls_server.addr, "--ca", ca, "--sheet", PRODUCT,
                    "--column", "2024-10", "--measure", "quantity", "--value", "10"),
            capture_output=True, text=True, timeout=60, env=example_env(),
        )
        assert denied.returncode == 1 and "UNAUTHENTICATED" in denied.stderr, (denied.stdout, denied.stderr)

        update = subprocess.run(
            example("update", "--addr", tls_server.addr, "--ca", ca, "--token", setup.alice.token,
                    "--sheet", PRODUCT, "--column", "2024-10", "--measure", "quantity", "--value", "10"),
            capture_output=True, text=True, timeout=60, env=example_env(),
        )
        assert update.returncode == 0, update.stderr
        m = re.match(r"revision (\d+): ", update.stdout)
        assert m is not None and '-> "10"' in update.stdout, update.stdout
        revision = int(m.group(1))

        out, err = watch.communicate(timeout=60)
        assert watch.returncode == 0, err
        assert out.startswith(f'revision {revision} by "{setup.alice.subject}"'), out
    finally:
        if watch.poll() is None:
            watch.kill()
            watch.wait()


def test_update_example_with_a_client_certificate(mtls_server: Server, setup: Setup) -> None:
    cert, key = setup.certs.client("carol")
    update = subprocess.run(
        example("update", "--addr", mtls_server.addr, "--ca", str(setup.certs.ca), "--cert", str(cert),
                "--key", str(key), "--sheet", PRODUCT, "--column", "2024-11", "--measure", "quantity", "--value", "11"),
        capture_output=True, text=True, timeout=60, env=example_env(),
    )
    assert update.returncode == 0, update.stderr
    m = re.match(r"revision (\d+): ", update.stdout)
    assert m is not None, update.stdout
    with tls(mtls_server, setup, certificate_chain=cert, private_key=key) as ch:
        assert change_at(Stub(ch), int(m.group(1))).actor == "carol"
