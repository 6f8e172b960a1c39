"""Follow a sheet: print the snapshot, then every change as it commits; the
local copy stays current across disconnects (resuming from the last revision + 1).
Without --sheet it follows the first sheet of ListSheets, so it works against
any model.

    python -m duckgrid_client.examples.watch --addr 127.0.0.1:50051
    python -m duckgrid_client.examples.watch --addr 127.0.0.1:50051 --sheet sheets/sales_by_product_family
    python -m duckgrid_client.examples.watch --addr 127.0.0.1:50051 --token dg_... --ca certs/ca.pem
"""

from __future__ import annotations

import argparse
import signal
import sys
from types import FrameType

import grpc

import duckgrid_client as dg
from duckgrid_client.examples import _connection


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m duckgrid_client.examples.watch")
    parser.add_argument("--sheet", help='sheet resource name ("sheets/..."; default: the first sheet)')
    parser.add_argument("--changes", type=int, default=0, help="exit after this many changes (0: run until interrupted)")
    _connection.add_arguments(parser)
    args = parser.parse_args(argv)

    with _connection.connect(parser, args) as channel:
        stub = dg.pb_grpc.GridServiceStub(channel)
        if args.sheet is None:
            try:
                sheets = dg.list_sheets(stub)
            except grpc.RpcError as err:
                print(f"watch: {_connection.rpc_error(err)}", file=sys.stderr)
                return 1
            if not sheets:
                print("watch: the server has no sheets", file=sys.stderr)
                return 1
            args.sheet = sheets[0].name
        watcher = dg.SheetWatcher(stub, args.sheet)

        def interrupted(_signum: int, _frame: FrameType | None) -> None:
            watcher.stop()

        signal.signal(signal.SIGINT, interrupted)
        signal.signal(signal.SIGTERM, interrupted)
        seen = 0
        try:
            for update in watcher.updates():
                if update.kind is dg.UpdateKind.SNAPSHOT:
                    print(f"snapshot {update.grid.sheet} at revision {update.revision}: "
                          f"{len(update.grid.rows)} rows, {len(update.grid)} cells", flush=True)
                elif update.kind is dg.UpdateKind.CHANGE and update.change is not None:
                    cells = [c for sc in update.change.changes if sc.sheet == args.sheet for c in sc.cells]
                    print(f'revision {update.revision} by "{update.change.actor}": {len(cells)} cells changed')
                    for c in cells[:5]:
                        print(f"  [{dg.format_path(c.row_path)}] {c.column} {c.measure} = {c.value}")
                    if len(cells) > 5:
                        print(f"  ... and {len(cells) - 5} more")
                    sys.stdout.flush()
                    seen += 1
                    if args.changes and seen >= args.changes:
                        watcher.stop()
        except grpc.RpcError as err:  # what retrying cannot fix: UNAUTHENTICATED, PERMISSION_DENIED, NOT_FOUND, ...
            print(f"watch: {_connection.rpc_error(err)}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
