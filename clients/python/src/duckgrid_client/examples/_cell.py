"""The cell flags update and history share (--sheet, --row, --column and
--measure) and the one cell they name."""

from __future__ import annotations

import argparse
import sys

import grpc

import duckgrid_client as dg
from duckgrid_client.examples import _connection


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """--sheet, --row, --column and --measure, all optional (see ``find``)."""
    parser.add_argument("--sheet", help='sheet resource name ("sheets/..."; default: the first sheet)')
    parser.add_argument("--row", help='row path, members joined by "/" ("" is the grand total; default: the first leaf row)')
    parser.add_argument("--column", help='column key ("2024-03", "2024-Q1", "2024" or "total"; default: the first month)')
    parser.add_argument("--measure", help="measure name (default: the sheet's first measure)")


def find(stub: dg.pb_grpc.GridServiceStub, args: argparse.Namespace, prog: str) -> dg.pb.CellRef | None:
    """The cell the flags name. A flag not given takes the server's first: the
    first sheet of ListSheets, that sheet's first measure and first month
    column, and the first leaf row of GetSheet for that column and measure, so
    that an example runs against any model without knowing its names.

    On a failed call or a name the server does not know it prints
    ``<prog>: why`` to stderr and returns None.
    """
    sheet_name, column, measure = args.sheet, args.column, args.measure
    try:
        if sheet_name is None or measure is None or column is None:
            sheets = dg.list_sheets(stub)
            if not sheets:
                raise ValueError("the server has no sheets")
            sheet = sheets[0] if sheet_name is None else dg.find_sheet(sheets, sheet_name)
            sheet_name = sheet.name
            if measure is None:
                if not sheet.measures:
                    raise ValueError(f"sheet {sheet.name} has no measures")
                measure = sheet.measures[0].name
            if column is None:
                column = dg.first_month_column(sheet)
        if args.row is None:
            grid = stub.GetSheet(dg.pb.GetSheetRequest(name=sheet_name, columns=[column], measures=[measure])).grid
            path = list(dg.first_leaf(grid).path)
        else:
            path = dg.parse_path(args.row)
    except (KeyError, ValueError) as err:
        print(f"{prog}: {err.args[0] if err.args else err}", file=sys.stderr)
        return None
    except grpc.RpcError as err:
        print(f"{prog}: {_connection.rpc_error(err)}", file=sys.stderr)
        return None
    return dg.cell(sheet_name, path, column, measure)


def label(cell: dg.pb.CellRef) -> str:
    """How the examples print a cell: "[row/path] column measure"."""
    return f"[{dg.format_path(cell.row_path)}] {cell.column} {cell.measure}"
