// Connecting, request metadata and structured errors.
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import type { SecureClientSessionOptions } from "node:http2";

import { create } from "@bufbuild/protobuf";
import { type Client, ConnectError, Code, type Interceptor, createClient } from "@connectrpc/connect";
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
/** Request metadata naming the client session of a write (comes back as ChangeEvent.session_id). */
export const SESSION_HEADER = "x-duckgrid-session";
/** The longest session id the server accepts. */
export const MAX_SESSION_ID_LENGTH = 128;
const SESSION_ID = new RegExp(`^[\\x20-\\x7e]{1,${MAX_SESSION_ID_LENGTH}}$`);
/** The key of every sheet's total column. */
export const TOTAL_COLUMN = "total";

export type GridClient = Client<typeof GridService>;

/** Request metadata carrying the credentials of a server started with --auth-file. */
export const AUTHORIZATION_HEADER = "authorization";
/** ErrorInfo reasons of UNAUTHENTICATED and PERMISSION_DENIED errors (auth on). */
export const REASON_MISSING_CREDENTIALS = "MISSING_CREDENTIALS";
export const REASON_INVALID_TOKEN = "INVALID_TOKEN";
export const REASON_ROLE_NOT_ALLOWED = "ROLE_NOT_ALLOWED";
export const REASON_SPREADING_NOT_ALLOWED = "SPREADING_NOT_ALLOWED";
export const REASON_IMPERSONATION_NOT_ALLOWED = "IMPERSONATION_NOT_ALLOWED";
/** Mutual TLS with --auth-file: no principal has the client certificate's Common Name. */
export const REASON_UNKNOWN_CERTIFICATE = "UNKNOWN_CERTIFICATE";

/**
 * A certificate or key: a file path, or the PEM itself (a string containing
 * "-----BEGIN", or its bytes).
 */
export type PemSource = string | Uint8Array;

export interface ConnectOptions {
  /** A bearer token (`dg_...` from `duckgrid keys new`), sent as
   * `authorization: Bearer <token>` on every call, streams included, over TLS or plaintext. */
  token?: string;
  /** Use TLS. Implied by `ca`, `cert`, `key` or `serverName`; `tls: true`
   * alone verifies the server against Node's default root certificates. */
  tls?: boolean;
  /** The CA certificate(s) to verify the server against (`ca.pem` of `duckgrid certs new`). */
  ca?: PemSource;
  /** A client certificate for mutual TLS (with `key`; `client-NAME.pem`). */
  cert?: PemSource;
  /** The client certificate's private key (with `cert`; `client-NAME.key`). */
  key?: PemSource;
  /** The name to verify the server certificate against (and send as SNI)
   * instead of the host of `addr`. */
  serverName?: string;
  /** More interceptors, run after the credentials are set. */
  interceptors?: Interceptor[];
}

/**
 * A client for a duckgrid server at `addr` ("127.0.0.1:50051"): gRPC over
 * HTTP/2 with a 64 MiB receive limit; plaintext unless TLS options are given.
 *
 *     connect("127.0.0.1:50051")                                   // plaintext, no credentials
 *     connect("grid.example:50051", { ca: "certs/ca.pem", token }) // TLS + bearer token
 *     connect(addr, { ca: "certs/ca.pem", cert: "certs/client-carol.pem", key: "certs/client-carol.key" }) // mutual TLS
 *
 * A TLS connection that cannot be established (the server is not trusted,
 * or refuses the client's certificate) fails calls with UNAVAILABLE, as
 * gRPC's other clients do.
 */
export function connect(addr: string, options: ConnectOptions = {}): GridClient {
  const { token, ca, cert, key, serverName } = options;
  const tls = options.tls ?? (ca !== undefined || cert !== undefined || key !== undefined || serverName !== undefined);
  if (!tls && (ca !== undefined || cert !== undefined || key !== undefined || serverName !== undefined)) {
    throw new Error("connect: ca, cert, key and serverName need TLS (tls: false was given)");
  }
  if ((cert === undefined) !== (key === undefined)) {
    throw new Error("connect: a client certificate needs both cert and key");
  }
  const interceptors: Interceptor[] = [];
  if (tls) interceptors.push(tlsFailureInterceptor);
  if (token !== undefined) interceptors.push(bearerToken(token));
  interceptors.push(...(options.interceptors ?? []));
  let nodeOptions: SecureClientSessionOptions | undefined;
  if (tls) {
    nodeOptions = {};
    if (ca !== undefined) nodeOptions.ca = readPem(ca, "ca");
    if (cert !== undefined) nodeOptions.cert = readPem(cert, "cert");
    if (key !== undefined) nodeOptions.key = readPem(key, "key");
    if (serverName !== undefined) nodeOptions.servername = serverName;
  }
  const transport = createGrpcTransport({
    baseUrl: `${tls ? "https" : "http"}://${addr}`,
    readMaxBytes: MAX_MESSAGE_SIZE,
    interceptors,
    ...(nodeOptions !== undefined ? { nodeOptions } : {}),
  });
  return createClient(GridService, transport);
}

/** An interceptor sending `authorization: Bearer <token>` on every call. */
export function bearerToken(token: string): Interceptor {
  const value = token.trim();
  if (value === "" || /[\s\x00-\x1f\x7f]/.test(value)) {
    throw new Error("connect: the token is empty or contains whitespace or control characters");
  }
  const header = `Bearer ${value}`;
  return (next) => (req) => {
    req.header.set(AUTHORIZATION_HEADER, header);
    return next(req);
  };
}

/** Reads a PemSource: PEM text or bytes as they are, anything else as a file path. */
export function readPem(source: PemSource, what = "certificate"): Buffer {
  if (typeof source !== "string") return Buffer.from(source);
  if (source.includes("-----BEGIN")) return Buffer.from(source, "utf8");
  try {
    return readFileSync(source);
  } catch (err) {
    throw new Error(`connect: cannot read ${what} ${source}: ${err instanceof Error ? err.message : String(err)}`);
  }
}

// Node's TLS errors: certificate verification codes (X509_V_ERR_* names, as
// Node spells them), ERR_TLS_*, and OpenSSL's ERR_SSL_* (handshake alerts
// such as the server's "certificate required").
const TLS_ERROR_CODE = /^(ERR_TLS_|ERR_SSL_|UNABLE_TO_|CERT_|DEPTH_ZERO_SELF_SIGNED_CERT$|SELF_SIGNED_CERT_IN_CHAIN$|HOSTNAME_MISMATCH$|EPROTO$)/;

/** Whether `err` was caused by a failed TLS handshake or certificate check. */
export function isTlsFailure(err: unknown): boolean {
  const seen = new Set<unknown>();
  for (let e = err; e instanceof Error && !seen.has(e); e = e.cause) {
    seen.add(e);
    const code = (e as { code?: unknown }).code;
    if (typeof code === "string" && TLS_ERROR_CODE.test(code)) return true;
  }
  return false;
}

/** A TLS failure as a ConnectError with code UNAVAILABLE (anything else unchanged). */
function asUnavailable(err: unknown): unknown {
  if (!isTlsFailure(err)) return err;
  if (err instanceof ConnectError && err.code === Code.Unavailable) return err;
  const message = err instanceof ConnectError ? err.rawMessage : err instanceof Error ? err.message : String(err);
  return new ConnectError(`TLS connection failed: ${message}`, Code.Unavailable, undefined, undefined, err);
}

/** Connect-node reports TLS handshake failures as INTERNAL; gRPC's clients
 * report them as UNAVAILABLE (retryable), and so does this one. */
const tlsFailureInterceptor: Interceptor = (next) => async (req) => {
  let res;
  try {
    res = await next(req);
  } catch (err) {
    throw asUnavailable(err);
  }
  if (!res.stream) return res;
  const messages = res.message;
  return {
    ...res,
    message: (async function* () {
      try {
        yield* messages;
      } catch (err) {
        throw asUnavailable(err);
      }
    })(),
  };
};

/** Call options naming `actor` as the writer: `client.updateCell(req, actorHeaders("me"))`. */
export function actorHeaders(actor: string): { headers: Record<string, string> } {
  return { headers: { [ACTOR_HEADER]: actor } };
}

/**
 * Call options naming the client session of a write (`x-duckgrid-session`,
 * recorded as ChangeEvent.sessionId; Undo can be scoped to it), and the
 * writer too when `actor` is given:
 *
 *     const session = newSessionId();
 *     await client.updateCell(req, sessionHeaders(session, "alice"));
 *     await undo(client, { sessionId: session, headers: actorHeaders("alice").headers });
 *
 * Throws unless `session` is 1 to 128 printable ASCII characters.
 */
export function sessionHeaders(session: string, actor?: string): { headers: Record<string, string> } {
  if (!SESSION_ID.test(session)) {
    throw new Error(`session id ${JSON.stringify(session)}: want 1 to ${MAX_SESSION_ID_LENGTH} printable ASCII characters`);
  }
  const headers: Record<string, string> = { [SESSION_HEADER]: session };
  if (actor !== undefined) headers[ACTOR_HEADER] = actor;
  return { headers };
}

/** A fresh random session id (a UUID) for sessionHeaders. */
export function newSessionId(): string {
  return randomUUID();
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
