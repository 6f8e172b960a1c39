"""The command-line examples, run as a user would against the suite's server."""

from __future__ import annotations

import subprocess
import sys

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
