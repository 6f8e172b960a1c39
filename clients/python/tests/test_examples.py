"""The command-line examples, run as a user would against the suite's server."""

from __future__ import annotations

import re
import subprocess
import sys
import uuid

import duckgrid_client as dg
from conftest import PRODUCT, Server


def test_watch_and_update_examples(server: Server, stub: dg.pb_grpc.GridServiceStub) -> None:
    watch = subprocess.Popen(
        [sys.executable, "-m", "duckgrid_client.examples.watch", "--addr", server.addr, "--changes", "1"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert watch.stdout is not None
        first = watch.stdout.readline()
        assert first.startswith(f"snapshot {PRODUCT} at revision "), first
        revision = stub.GetSheet(dg.pb.GetSheetRequest(name=PRODUCT, measures=["quantity"], columns=["total"])).grid.revision

        update = subprocess.run(
            [sys.executable, "-m", "duckgrid_client.examples.update", "--addr", server.addr,
             "--column", "2024-10", "--measure", "net_amount", "--value", "321.00", "--actor", "py-example-test"],
            capture_output=True, text=True, timeout=60,
        )
        assert update.returncode == 0, update.stderr
        assert '-> "321.00"' in update.stdout, update.stdout

        out, err = watch.communicate(timeout=60)
        assert watch.returncode == 0, err
        assert out.startswith(f'revision {revision + 1} by "py-example-test"'), out
    finally:
        if watch.poll() is None:
            watch.kill()
            watch.wait()


def run_example(name: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", f"duckgrid_client.examples.{name}", *args],
                          capture_output=True, text=True, timeout=60)


def test_history_example(server: Server) -> None:
    actor = f"py-history-example-{uuid.uuid4().hex[:8]}"
    addr = ["--addr", server.addr]
    # The examples' default cell: the first sheet's first leaf row, first month, first measure.
    update = run_example("update", *addr, "--value", "77", "--actor", actor)
    assert update.returncode == 0, update.stderr
    m = re.match(r"revision (\d+): (\[.*?\] \S+ \S+): \"(.*?)\" -> \"77\"", update.stdout)
    assert m, update.stdout
    revision, label, before = int(m[1]), m[2], m[3]

    history = run_example("history", *addr)
    assert history.returncode == 0, history.stderr
    lines = history.stdout.splitlines()
    assert lines[0] == f"who changed {label} of {PRODUCT} (newest first):", history.stdout
    assert lines[1].startswith(f'  revision {revision} at '), history.stdout
    assert lines[1].endswith(f'by "{actor}": "{before}" -> "77"'), history.stdout

    undo = run_example("history", *addr, "--undo", "--actor", actor, "--limit", "2")
    assert undo.returncode == 0, undo.stderr
    lines = undo.stdout.splitlines()
    assert lines[0].startswith(f'undid revision {revision} by "{actor}": revision {revision + 1} ('), undo.stdout
    assert lines[2].startswith(f"  revision {revision + 1} at "), undo.stdout
    assert lines[2].endswith(f'"77" -> "{before}" [undoes revision {revision}]'), undo.stdout
    assert lines[3].endswith(f" [undone by revision {revision + 1}]"), undo.stdout
    assert len(lines) == 4, undo.stdout

    again = run_example("history", *addr, "--undo", "--actor", actor, "--limit", "1")
    assert again.returncode == 3, (again.stdout, again.stderr)
    assert again.stdout == f'nothing to undo for "{actor}"\n'
