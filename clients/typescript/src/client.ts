// Connecting, request metadata and structured errors.
import { create } from "@bufbuild/protobuf";
import { type Client, ConnectError, Code, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";

import {
  type CellRef,
  CellRefSchema,
  type Column,
  ColumnKind,
  type Grid,
  GridService,
  type Row,
  type Sheet,
} from "./gen/duckgrid/v1/grid_pb.js";
import { type ErrorInfo, ErrorInfoSchema } from "./gen/google/rpc/error_details_pb.js";

/** Receive limit: snapshots and large spreads' events can exceed 4 MiB. */
export const MAX_MESSAGE_SIZE = 64 * 1024 * 1024;
/** Request metadata naming who makes a write (comes back as ChangeEvent.actor). */
export const ACTOR_HEADER = "x-duckgrid-actor";
/** The google.rpc.ErrorInfo domain of every duckgrid error. */
export const ERROR_DOMAIN = "duckgrid";
/** ErrorInfo reason of a failed compare-and-set (ABORTED); metadata has current_value. */
export const REASON_EXPECTED_VALUE_MISMATCH = "EXPECTED_VALUE_MISMATCH";
/** The key of every sheet's total column. */
export const TOTAL_COLUMN = "total";

export type GridClient = Client<typeof GridService>;

/**
 * A client for a duckgrid server at `addr` ("127.0.0.1:50051"): gRPC over
 * plaintext HTTP/2 with a 64 MiB receive limit.
 */
export function connect(addr: string): GridClient {
  const transport = createGrpcTransport({
    baseUrl: `http://${addr}`,
    readMaxBytes: MAX_MESSAGE_SIZE,
  });
  return createClient(GridService, transport);
}

/** Call options naming `actor` as the writer: `client.updateCell(req, actorHeaders("me"))`. */
export function actorHeaders(actor: string): { headers: Record<string, string> } {
  return { headers: { [ACTOR_HEADER]: actor } };
}

/** The google.rpc.ErrorInfo of a failed call, from grpc-status-details-bin. */
export function errorInfo(err: unknown): ErrorInfo | undefined {
  if (!(err instanceof ConnectError)) return undefined;
  return err.findDetails(ErrorInfoSchema)[0];
}

/** The cell's current value from a compare-and-set conflict (ABORTED,
 * reason EXPECTED_VALUE_MISMATCH); undefined for any other error. */
export function currentValue(err: unknown): string | undefined {
  if (!(err instanceof ConnectError) || err.code !== Code.Aborted) return undefined;
  const info = errorInfo(err);
  if (info?.reason !== REASON_EXPECTED_VALUE_MISMATCH) return undefined;
  return info.metadata["current_value"];
}

/** Builds a CellRef. */
export function cell(sheet: string, rowPath: readonly string[], column: string, measure: string): CellRef {
  return create(CellRefSchema, { sheet, rowPath: [...rowPath], column, measure });
}

/** Every sheet of the model, in model order (following ListSheets' pages). */
export async function listSheets(client: GridClient, options: { headers?: Record<string, string> } = {}): Promise<Sheet[]> {
  const sheets: Sheet[] = [];
  let pageToken = "";
  for (;;) {
    const resp = await client.listSheets({ pageToken }, options);
    sheets.push(...resp.sheets);
    pageToken = resp.nextPageToken;
    if (pageToken === "") return sheets;
  }
}

/** The sheet named `name` ("sheets/budget_by_account") among `sheets`. */
export function findSheet(sheets: readonly Sheet[], name: string): Sheet {
  const sheet = sheets.find((s) => s.name === name);
  if (sheet === undefined) {
    throw new Error(`no sheet ${JSON.stringify(name)} (the model has ${sheets.map((s) => s.name).join(", ") || "no sheets"})`);
  }
  return sheet;
}

/** Whether a column is one month (Column.kind MONTH). From a server that does
 * not set kinds, every column but the total is a month. */
export function isMonthColumn(column: Column): boolean {
  if (column.kind === ColumnKind.UNSPECIFIED) return !column.total;
  return column.kind === ColumnKind.MONTH;
}

/** The keys of a sheet's month columns, in order (no quarter, year or total columns). */
export function monthColumns(sheet: Sheet): string[] {
  return sheet.columns.filter(isMonthColumn).map((c) => c.key);
}

/** The key of a sheet's first month column ("2024-01"). */
export function firstMonthColumn(sheet: Sheet): string {
  const column = sheet.columns.find(isMonthColumn);
  if (column === undefined) throw new Error(`sheet ${sheet.name} has no month column`);
  return column.key;
}

/** The first leaf row of a grid (hierarchy order). */
export function firstLeaf(grid: Grid): Row {
  const row = grid.rows.find((r) => r.leaf);
  if (row === undefined) throw new Error(`grid ${grid.sheet} has no leaf row`);
  return row;
}

/** Splits a "/"-separated row path ("Acme/Acme Select/Coffee"); "" is the grand total. */
export function parsePath(text: string): string[] {
  return text === "" ? [] : text.split("/");
}

/** Joins a row path with "/" (the grand total is ""). */
export function formatPath(path: readonly string[]): string {
  return path.join("/");
}
