"""Who changed this cell: every revision that changed one cell, newest first,
with its value before and after. It works against any model: without --sheet
it reads the first sheet of ListSheets, without --measure that sheet's first
measure, without --column its first month column and without --row its first
leaf row. With --undo it first takes back the latest revision of --actor (in
--session only, when given) that is still in effect.

    python -m duckgrid_client.examples.history --addr 127.0.0.1:50051
    python -m duckgrid_client.examples.history --addr 127.0.0.1:50051 --column 2024-03 --measure net_amount --limit 5
    python -m duckgrid_client.examples.history --addr 127.0.0.1:50051 --undo --actor python-example

With a token (--token or $DUCKGRID_TOKEN) or a client certificate (--cert and
--key) the server takes the actor from the key (or the certificate), and
--actor is sent only when given.
"""

from __future__ import annotations

import argparse
import sys

import grpc

import duckgrid_client as dg
from duckgrid_client.examples import _connection


def _rpc_error(err: grpc.RpcError) -> str:
    return (f"{err.code() if isinstance(err, grpc.Call) else err}: "
            f"{err.details() if isinstance(err, grpc.Call) else ''}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m duckgrid_client.examples.history")
    parser.add_argument("--sheet", help='sheet resource name ("sheets/..."; default: the first sheet)')
    parser.add_argument("--row", help='row path, members joined by "/" ("" is the grand total; default: the first leaf row)')
    parser.add_argument("--column", help='column key ("2024-03", "2024-Q1", "2024" or "total"; default: the first month)')
    parser.add_argument("--measure", help="measure name (default: the sheet's first measure)")
    parser.add_argument("--limit", type=int, default=20, help="print at most this many revisions (0: all)")
    parser.add_argument("--undo", action="store_true", help="first undo the latest revision of --actor still in effect")
    parser.add_argument("--session", help="with --undo: only among the writes of this session (x-duckgrid-session)")
    parser.add_argument("--overwrite", action="store_true", help="with --undo: even if later revisions changed the same facts")
    parser.add_argument("--actor", help='whose revision --undo takes back (x-duckgrid-actor; default "python-example" '
                        "without a token or client certificate, none with one)")
    _connection.add_arguments(parser)
    args = parser.parse_args(argv)
    if args.limit < 0:
        parser.error("--limit must be 0 or more")
    if args.session is not None:
        try:
            dg.check_session_id(args.session)
        except ValueError as err:
            parser.error(f"--session: {err}")
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
                    print("history: the server has no sheets", file=sys.stderr)
                    return 1
                sheet = sheets[0] if args.sheet is None else dg.find_sheet(sheets, args.sheet)
                args.sheet = sheet.name
                if args.measure is None:
                    if not sheet.measures:
                        print(f"history: sheet {sheet.name} has no measures", file=sys.stderr)
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
            print(f"history: {err.args[0] if err.args else err}", file=sys.stderr)
            return 1
        except grpc.RpcError as err:
            print(f"history: {_rpc_error(err)}", file=sys.stderr)
            return 1
        target = dg.cell(args.sheet, path, args.column, args.measure)
        label = f"[{dg.format_path(path)}] {args.column} {args.measure}"

        if args.undo:
            try:
                rev = dg.undo(stub, session_id=args.session, overwrite=args.overwrite, metadata=metadata)
            except grpc.RpcError as err:
                info = dg.error_info(err)
                whose = f'"{actor}"' if actor is not None else "you"
                if info is not None and info.reason == dg.REASON_NOTHING_TO_UNDO:
                    print(f"nothing to undo for {whose}" + (f" in session {args.session}" if args.session else ""))
                    return 3
                later = dg.conflicting_revisions(err)
                if later is not None:
                    print(f"conflict: revision {info.metadata.get('revision', '?') if info else '?'} was changed "
                          f"since by revision(s) {', '.join(map(str, later))} (--overwrite to undo anyway)")
                    return 3
                print(f"history: undo: {_rpc_error(err)}", file=sys.stderr)
                return 1
            c = rev.change
            cells = sum(len(sc.cells) for sc in c.changes)
            print(f'undid revision {c.reverts_revision} by "{c.actor}": revision {c.revision} ({cells} cells changed)')

        try:
            entries = list(dg.history(stub, target, limit=args.limit or None))
        except grpc.RpcError as err:
            print(f"history: {_rpc_error(err)}", file=sys.stderr)
            return 1
    if not entries:
        print(f"nobody changed {label} of {args.sheet}")
        return 0
    print(f"who changed {label} of {args.sheet} (newest first):")
    for e in entries:
        when = e.commit_time.isoformat(timespec="seconds").replace("+00:00", "Z")
        extra = [f"session {e.session_id}"] if e.session_id else []
        if e.request_id:
            extra.append(f"request {e.request_id}")
        line = f'  revision {e.revision} at {when} by "{e.actor}"'
        if extra:
            line += f" ({', '.join(extra)})"
        line += f': "{e.before}" -> "{e.after}"'
        if e.is_revert:
            line += f" [undoes revision {e.reverts_revision}]"
        if not e.in_effect:
            line += f" [undone by revision {e.reverted_by}]"
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
