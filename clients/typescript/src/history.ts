// History and undo: who changed a cell (ListRevisions), taking a revision
// back (RevertRevision) and undoing the caller's own latest one (Undo).
import { type Timestamp, timestampDate, timestampFromDate } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";

import { type GridClient, errorInfo } from "./client.js";
import type { CellRef, ChangeEvent, Revision } from "./gen/duckgrid/v1/grid_pb.js";

/** ErrorInfo reason (ABORTED) of a revert or undo whose facts later revisions changed;
 * metadata `conflicting_revisions` ("12,15", ascending) and `revision` (the target). */
export const REASON_REVISION_CONFLICT = "REVISION_CONFLICT";
/** ErrorInfo reason (ABORTED) when `expectedHead` was given and the head moved; metadata `head_revision`. */
export const REASON_HEAD_MOVED = "HEAD_MOVED";
/** ErrorInfo reason (FAILED_PRECONDITION) of an Undo with nothing of the caller's to undo. */
export const REASON_NOTHING_TO_UNDO = "NOTHING_TO_UNDO";
/** ErrorInfo reason (OUT_OF_RANGE) of a revision beyond the retained fact history or above
 * the head; metadata `oldest_revision` and `head_revision`. */
export const REASON_REVISION_OUT_OF_RANGE = "REVISION_OUT_OF_RANGE";

/** The largest ListRevisions page the server returns. */
export const MAX_PAGE_SIZE = 1000;

/** One revision that changed a cell, as cellHistory yields it. */
export interface HistoryEntry {
  revision: bigint;
  /** When it committed (undefined if the server sent no time). */
  commitTime: Date | undefined;
  /** Who wrote it (the actor metadata, or the authenticated principal). */
  actor: string;
  /** The write's idempotency key ("" when it had none). */
  requestId: string;
  /** The client session of the write (`x-duckgrid-session`; "" when none). */
  sessionId: string;
  /** The cell's value before the revision ("" when it was empty). */
  before: string;
  /** The cell's value after the revision ("" when the revision removed it). */
  after: string;
  /** For a revert: the revision it took back; 0n for an edit. */
  revertsRevision: bigint;
  /** The revert in effect that took this revision back; 0n when none. */
  revertedBy: bigint;
  /** The revision as listed. */
  raw: Revision;
}

export interface HistoryOptions {
  /** Stop after this many entries (default: every revision of the cell). */
  limit?: number;
  /** ListRevisions page size (default the server's, 50; at most 1000). */
  pageSize?: number;
  /** The first revision to list (the newest, or the oldest with `oldestFirst`). */
  startRevision?: bigint;
  /** Oldest first instead of newest first. */
  oldestFirst?: boolean;
  /** Only revisions by this actor. */
  actor?: string;
  /** Only revisions committed at or after this time. */
  startTime?: Date;
  /** Only revisions committed before this time. */
  endTime?: Date;
  headers?: Record<string, string>;
  signal?: AbortSignal;
}

/**
 * Every revision that changed the cell `ref`, newest first (ListRevisions with
 * the `cell` filter), following `next_page_token` until it is empty or `limit`
 * entries were yielded. Pages may be short, even empty, before the end.
 *
 *     for await (const e of cellHistory(client, cell(sheet, path, "2024-03", "quantity"))) {
 *       console.log(e.revision, e.actor, `${e.before} -> ${e.after}`);
 *     }
 */
export async function* cellHistory(client: GridClient, ref: CellRef, options: HistoryOptions = {}): AsyncGenerator<HistoryEntry> {
  const { limit, pageSize } = options;
  if (limit !== undefined && (!Number.isInteger(limit) || limit < 0)) throw new Error(`cellHistory: limit ${limit} is not a count`);
  let left = limit ?? Infinity;
  let pageToken = "";
  while (left > 0) {
    // 0: the server's default page size; with a limit, no more than is left.
    const size = left === Infinity ? pageSize ?? 0 : Math.min(pageSize || MAX_PAGE_SIZE, left);
    const resp = await client.listRevisions(
      {
        cell: ref,
        pageToken,
        pageSize: size,
        startRevision: options.startRevision ?? 0n,
        oldestFirst: options.oldestFirst ?? false,
        actor: options.actor ?? "",
        ...(options.startTime !== undefined ? { startTime: timestampFromDate(options.startTime) } : {}),
        ...(options.endTime !== undefined ? { endTime: timestampFromDate(options.endTime) } : {}),
      },
      callOptions(options),
    );
    for (const r of resp.revisions) {
      if (left <= 0) return;
      yield historyEntry(r, ref);
      left--;
    }
    if (resp.nextPageToken === "") return;
    pageToken = resp.nextPageToken;
  }
}

/** cellHistory collected into an array (newest first unless `oldestFirst`). */
export async function listCellHistory(client: GridClient, ref: CellRef, options: HistoryOptions = {}): Promise<HistoryEntry[]> {
  const out: HistoryEntry[] = [];
  for await (const e of cellHistory(client, ref, options)) out.push(e);
  return out;
}

/** A listed revision as a HistoryEntry of cell `ref`: before and after from its change of that cell. */
export function historyEntry(r: Revision, ref: CellRef): HistoryEntry {
  const ev = r.change;
  const cc = ev === undefined ? undefined : cellChange(ev, ref);
  return {
    revision: ev?.revision ?? 0n,
    commitTime: toDate(ev?.commitTime),
    actor: ev?.actor ?? "",
    requestId: ev?.requestId ?? "",
    sessionId: ev?.sessionId ?? "",
    before: cc?.previousValue ?? "",
    after: cc?.value ?? "",
    revertsRevision: ev?.revertsRevision ?? 0n,
    revertedBy: r.revertedBy,
    raw: r,
  };
}

/** The event's change of cell `ref`; with the `cell` filter the server sends just that one. */
function cellChange(ev: ChangeEvent, ref: CellRef): ChangeEvent["changes"][number]["cells"][number] | undefined {
  const same = (a: readonly string[], b: readonly string[]): boolean => a.length === b.length && a.every((x, i) => x === b[i]);
  for (const sc of ev.changes) {
    if (sc.sheet !== ref.sheet) continue;
    const c = sc.cells.find((c) => c.column === ref.column && c.measure === ref.measure && same(c.rowPath, ref.rowPath));
    if (c !== undefined) return c;
  }
  const all = ev.changes.flatMap((sc) => sc.cells);
  return all.length === 1 ? all[0] : undefined;
}

function toDate(t: Timestamp | undefined): Date | undefined {
  return t === undefined ? undefined : timestampDate(t);
}

export interface RevertOptions {
  /** Apply only if the head revision is this one (else ABORTED, HEAD_MOVED). */
  expectedHead?: bigint;
  /** Revert even when later revisions changed the same facts (their changes are lost). */
  overwrite?: boolean;
  /** Idempotency key. */
  requestId?: string;
  /** Call metadata: actorHeaders(actor).headers names whose revisions Undo takes back. */
  headers?: Record<string, string>;
  signal?: AbortSignal;
}

export interface UndoOptions extends RevertOptions {
  /** Only the caller's revisions written in this client session (sessionHeaders). */
  sessionId?: string;
}

/**
 * Undoes the caller's latest revision that is in effect (not a revert, not
 * already reverted), within `sessionId` when given; the caller is the actor of
 * `headers` (actorHeaders) or the authenticated principal. Returns the new
 * revision (its `change.revertsRevision` is the one taken back). Undo twice
 * undoes the two latest, newest first.
 *
 * Fails with FAILED_PRECONDITION NOTHING_TO_UNDO (isNothingToUndo), ABORTED
 * REVISION_CONFLICT when later revisions changed the same facts
 * (conflictingRevisions; `overwrite: true` undoes anyway), ABORTED HEAD_MOVED
 * (headMoved) with `expectedHead`.
 */
export async function undo(client: GridClient, options: UndoOptions = {}): Promise<Revision> {
  const resp = await client.undo(
    {
      sessionId: options.sessionId ?? "",
      overwrite: options.overwrite ?? false,
      requestId: options.requestId ?? "",
      ...(options.expectedHead !== undefined ? { expectedHead: options.expectedHead } : {}),
    },
    callOptions(options),
  );
  return required(resp.revision, "Undo");
}

/** Takes `revision` back (RevertRevision): the new revision, whose facts are as before the target.
 * Errors as undo's, and OUT_OF_RANGE REVISION_OUT_OF_RANGE, NOT_FOUND above the head. */
export async function revert(client: GridClient, revision: bigint, options: RevertOptions = {}): Promise<Revision> {
  const resp = await client.revertRevision(
    {
      revision,
      overwrite: options.overwrite ?? false,
      requestId: options.requestId ?? "",
      ...(options.expectedHead !== undefined ? { expectedHead: options.expectedHead } : {}),
    },
    callOptions(options),
  );
  return required(resp.revision, "RevertRevision");
}

function required(r: Revision | undefined, rpc: string): Revision {
  if (r === undefined || r.change === undefined) throw new Error(`${rpc}: the server returned no revision`);
  return r;
}

function callOptions(o: { headers?: Record<string, string>; signal?: AbortSignal }): { headers?: Record<string, string>; signal?: AbortSignal } {
  return { ...(o.headers !== undefined ? { headers: o.headers } : {}), ...(o.signal !== undefined ? { signal: o.signal } : {}) };
}

/** The ErrorInfo metadata of `err` when it has `code` and `reason`; undefined otherwise. */
function reasonMetadata(err: unknown, code: Code, reason: string): Record<string, string> | undefined {
  if (!(err instanceof ConnectError) || err.code !== code) return undefined;
  const info = errorInfo(err);
  return info?.reason === reason ? info.metadata : undefined;
}

/** The later revisions that conflict with a revert or undo (ABORTED REVISION_CONFLICT),
 * ascending; undefined for any other error. */
export function conflictingRevisions(err: unknown): bigint[] | undefined {
  const md = reasonMetadata(err, Code.Aborted, REASON_REVISION_CONFLICT);
  if (md === undefined) return undefined;
  return (md["conflicting_revisions"] ?? "").split(",").map(toBigInt).filter((r) => r !== undefined);
}

/** The head revision after a failed `expectedHead` (ABORTED HEAD_MOVED); undefined for any other error. */
export function headMoved(err: unknown): bigint | undefined {
  return toBigInt(reasonMetadata(err, Code.Aborted, REASON_HEAD_MOVED)?.["head_revision"]);
}

/** Whether `err` is an Undo with nothing of the caller's to undo (FAILED_PRECONDITION NOTHING_TO_UNDO). */
export function isNothingToUndo(err: unknown): boolean {
  return reasonMetadata(err, Code.FailedPrecondition, REASON_NOTHING_TO_UNDO) !== undefined;
}

/** The retained range after a revision out of it (OUT_OF_RANGE REVISION_OUT_OF_RANGE); undefined otherwise. */
export function revisionRange(err: unknown): { oldest: bigint; head: bigint } | undefined {
  const md = reasonMetadata(err, Code.OutOfRange, REASON_REVISION_OUT_OF_RANGE);
  if (md === undefined) return undefined;
  return { oldest: toBigInt(md["oldest_revision"]) ?? 0n, head: toBigInt(md["head_revision"]) ?? 0n };
}

/** A decimal revision number from error metadata; undefined when absent or malformed. */
function toBigInt(s: string | undefined): bigint | undefined {
  const t = s?.trim();
  return t !== undefined && /^\d+$/.test(t) ? BigInt(t) : undefined;
}
