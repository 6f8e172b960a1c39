"""Write one cell and print what the write did. It works against any model:
without --sheet it writes the first sheet of ListSheets, without --measure
that sheet's first measure, without --column its first month column and
without --row its first leaf row.

    python -m duckgrid_client.examples.update --addr 127.0.0.1:50051 --value 1234.50
    python -m duckgrid_client.examples.update --addr 127.0.0.1:50051 --column 2024-03 --measure net_amount --value 1234.50
    DUCKGRID_TOKEN=dg_... python -m duckgrid_client.examples.update --addr 127.0.0.1:50051 --ca certs/ca.pem --value 1234.50

With a token (--token or $DUCKGRID_TOKEN) or a client certificate (--cert and
--key) the server records the key's subject (or the certificate's name) as
the actor, and --actor is sent only when given (only an admin may name another).
"""

from __future__ import annotations

import argparse
import sys

import grpc

import duckgrid_client as dg
from duckgrid_client.examples import _cell, _connection

MODES = {"set": dg.pb.UPDATE_MODE_SET, "add": dg.pb.UPDATE_MODE_ADD, "percent": dg.pb.UPDATE_MODE_PERCENT}
SPREADS = {"proportional": dg.pb.SPREAD_METHOD_PROPORTIONAL, "equal": dg.pb.SPREAD_METHOD_EQUAL}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m duckgrid_client.examples.update")
    _cell.add_arguments(parser)
    parser.add_argument("--value", required=True, help="a decimal string")
    parser.add_argument("--mode", choices=MODES, default="set")
    parser.add_argument("--spread", choices=SPREADS, default="proportional")
    parser.add_argument("--expected", help="compare-and-set: the value you expect the cell to hold")
    parser.add_argument("--actor", help='who writes (x-duckgrid-actor; default "python-example" '
                        "without a token or client certificate, none with one)")
    _connection.add_arguments(parser)
    args = parser.parse_args(argv)
    actor = _connection.actor(args)
    metadata = dg.actor_metadata(actor) if actor is not None else ()

    with _connection.connect(parser, args) as channel:
        stub = dg.pb_grpc.GridServiceStub(channel)
        target = _cell.find(stub, args, "update")
        if target is None:
            return 1
        label = _cell.label(target)
        edit = dg.pb.CellEdit(
            cell=target,
            value=args.value,
            mode=MODES[args.mode],
            spread=SPREADS[args.spread],
        )
        if args.expected is not None:
            edit.expected_value = args.expected
        try:
            resp = stub.UpdateCell(dg.pb.UpdateCellRequest(edit=edit), metadata=metadata)
        except grpc.RpcError as err:
            current = dg.current_value(err)
            if current is not None:
                print(f"conflict: {label} is {current}, not {args.expected}")
                return 3
            print(f"update: {_connection.rpc_error(err)}", file=sys.stderr)
            return 1
    r = resp.result
    print(f'revision {resp.revision}: {label}: '
          f'"{r.previous_value}" -> "{r.new_value}" ({r.facts_changed} facts changed)')
    for sc in resp.changes:
        print(f"  {sc.sheet}: {len(sc.cells)} cells changed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
