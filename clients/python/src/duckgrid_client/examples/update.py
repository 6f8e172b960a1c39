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
from duckgrid_client.examples import _connection

MODES = {"set": dg.pb.UPDATE_MODE_SET, "add": dg.pb.UPDATE_MODE_ADD, "percent": dg.pb.UPDATE_MODE_PERCENT}
SPREADS = {"proportional": dg.pb.SPREAD_METHOD_PROPORTIONAL, "equal": dg.pb.SPREAD_METHOD_EQUAL}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m duckgrid_client.examples.update")
    parser.add_argument("--sheet", help='sheet resource name ("sheets/..."; default: the first sheet)')
    parser.add_argument("--row", help='row path, members joined by "/" ("" is the grand total; default: the first leaf row)')
    parser.add_argument("--column", help='column key ("2024-03", "2024-Q1", "2024" or "total"; default: the first month)')
    parser.add_argument("--measure", help="measure name (default: the sheet's first measure)")
    parser.add_argument("--value", required=True, help="a decimal string")
    parser.add_argument("--mode", choices=MODES, default="set")
    parser.add_argument("--spread", choices=SPREADS, default="proportional")
    parser.add_argument("--expected", help="compare-and-set: the value you expect the cell to hold")
    parser.add_argument("--actor", help='who writes (x-duckgrid-actor; default "python-example" '
                        "without a token or client certificate, none with one)")
    _connection.add_arguments(parser)
    args = parser.parse_args(argv)
    actor = args.actor
    if actor is None and not _connection.has_credentials(args):
        actor = "python-example"
    metadata = dg.actor_metadata(actor) if actor is not None else ()

    with _connection.connect(parser, args) as channel:
        stub = dg.pb_grpc.GridServiceStub(channel)
        try:
            if args.sheet is None or args.measure is None or args.column is None:
                sheets = dg.list_sheets(stub)
                if not sheets:
                    print("update: the server has no sheets", file=sys.stderr)
                    return 1
                sheet = sheets[0] if args.sheet is None else dg.find_sheet(sheets, args.sheet)
                args.sheet = sheet.name
                if args.measure is None:
                    if not sheet.measures:
                        print(f"update: sheet {sheet.name} has no measures", file=sys.stderr)
                        return 1
                    args.measure = sheet.measures[0].name
                if args.column is None:
                    args.column = dg.first_month_column(sheet)
            if args.row is None:
                grid = stub.GetSheet(dg.pb.GetSheetRequest(name=args.sheet, columns=[args.column], measures=[args.measure])).grid
                path = list(dg.first_leaf(grid).path)
            else:
                path = dg.parse_path(args.row)
        except (KeyError, ValueError) as err:
            print(f"update: {err.args[0] if err.args else err}", file=sys.stderr)
            return 1
        except grpc.RpcError as err:
            print(f"update: {err.code() if isinstance(err, grpc.Call) else err}: "
                  f"{err.details() if isinstance(err, grpc.Call) else ''}", file=sys.stderr)
            return 1
        edit = dg.pb.CellEdit(
            cell=dg.cell(args.sheet, path, args.column, args.measure),
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
                print(f"conflict: [{dg.format_path(path)}] {args.column} {args.measure} is {current}, not {args.expected}")
                return 3
            print(f"update: {err.code() if isinstance(err, grpc.Call) else err}: "
                  f"{err.details() if isinstance(err, grpc.Call) else ''}", file=sys.stderr)
            return 1
    r = resp.result
    print(f'revision {resp.revision}: [{dg.format_path(path)}] {args.column} {args.measure}: '
          f'"{r.previous_value}" -> "{r.new_value}" ({r.facts_changed} facts changed)')
    for sc in resp.changes:
        print(f"  {sc.sheet}: {len(sc.cells)} cells changed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
