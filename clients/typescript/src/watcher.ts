// Watch a sheet and keep a local copy current across disconnects.
import { Code, ConnectError } from "@connectrpc/connect";

import type { GridClient } from "./client.js";
import type { ChangeEvent, WatchUpdatesResponse } from "./gen/duckgrid/v1/grid_pb.js";
import { LocalGrid, RevisionError } from "./localgrid.js";

export type UpdateKind = "snapshot" | "change" | "progress";

/** What one watch message did; yielded after it was applied. */
export interface Update {
  kind: UpdateKind;
  /** The local copy's revision after the update. */
  revision: bigint;
  /** The local copy. */
  grid: LocalGrid;
  /** The event applied (kind "change" only). */
  change?: ChangeEvent;
}

export interface SheetWatcherOptions {
  rowPath?: readonly string[];
  measures?: readonly string[];
  headers?: Record<string, string>;
  /** Wait before reconnecting after an error: doubles from min to max (defaults 100 ms, 5 s). */
  minBackoffMs?: number;
  maxBackoffMs?: number;
}

const RETRYABLE = new Set<Code>([
  Code.Unavailable,
  Code.ResourceExhausted,
  Code.Aborted,
  Code.Internal,
  Code.Unknown,
  Code.DeadlineExceeded,
  Code.Canceled,
]);

/**
 * Keeps a local copy of one sheet current: asks WatchUpdates for a snapshot
 * and then every change after it; when the stream breaks it resumes from the
 * last revision received + 1, so nothing is missed or applied twice. A start
 * revision the server no longer retains (OUT_OF_RANGE) makes it take a fresh
 * snapshot. Errors retrying cannot fix, and out-of-order events
 * (RevisionError), are thrown. It works for any sheet (see LocalGrid).
 *
 *     const watcher = new SheetWatcher(client, "sheets/sales_by_product_family");
 *     for await (const u of watcher.updates()) console.log(u.kind, u.revision);
 */
export class SheetWatcher {
  /** Streams opened after the first one. */
  reconnects = 0;
  private localGrid: LocalGrid | undefined;
  private readonly stopping = new AbortController();
  private current: AbortController | undefined;
  private dropped = false;

  constructor(
    private readonly client: GridClient,
    readonly sheet: string,
    private readonly options: SheetWatcherOptions = {},
  ) {}

  /** The local copy (undefined before the first snapshot). */
  get grid(): LocalGrid | undefined {
    return this.localGrid;
  }

  /** The local copy's revision (-1 before the first snapshot). */
  get revision(): bigint {
    return this.localGrid?.revision ?? -1n;
  }

  /** Ends `updates()` (it returns normally). */
  stop(): void {
    this.stopping.abort();
  }

  /** Cancels the current stream, as a network failure would; resumes at once from the last revision + 1. */
  dropStream(): void {
    if (this.current !== undefined) {
      this.dropped = true;
      this.current.abort();
    }
  }

  /** Yields an Update after each message was applied, until stop(). */
  async *updates(): AsyncGenerator<Update, void, undefined> {
    const minBackoff = this.options.minBackoffMs ?? 100;
    const maxBackoff = Math.max(this.options.maxBackoffMs ?? 5000, minBackoff);
    let backoff = minBackoff;
    while (!this.stopping.signal.aborted) {
      const stream = new AbortController();
      const onStop = (): void => stream.abort();
      this.stopping.signal.addEventListener("abort", onStop, { once: true });
      this.current = stream;
      this.dropped = false;
      const request =
        this.localGrid === undefined
          ? { sendSnapshot: true }
          : { startRevision: this.localGrid.revision + 1n };
      let error: unknown;
      let failed = false;
      let received = false;
      try {
        const messages = this.client.watchUpdates(
          {
            sheet: this.sheet,
            rowPath: [...(this.options.rowPath ?? [])],
            measures: [...(this.options.measures ?? [])],
            ...request,
          },
          { signal: stream.signal, headers: this.options.headers ?? {} },
        );
        for await (const message of messages) {
          received = true;
          const update = this.apply(message);
          if (update !== undefined) yield update;
        }
      } catch (e) {
        if (e instanceof RevisionError) throw e;
        error = e;
        failed = true;
      } finally {
        stream.abort();
        this.stopping.signal.removeEventListener("abort", onStop);
        this.current = undefined;
      }
      if (this.stopping.signal.aborted) return;
      if (received) backoff = minBackoff;
      const code = failed ? ConnectError.from(error).code : undefined;
      if (this.dropped) {
        // dropStream(): resume at once
      } else if (code === Code.OutOfRange) {
        this.localGrid = undefined; // the start revision is gone: re-read and re-watch
      } else if (code === undefined || RETRYABLE.has(code)) {
        await sleep(backoff, this.stopping.signal);
        backoff = Math.min(2 * backoff, maxBackoff);
      } else {
        throw error;
      }
      this.reconnects++;
    }
  }

  private apply(message: WatchUpdatesResponse): Update | undefined {
    switch (message.kind.case) {
      case "snapshot":
        this.localGrid = new LocalGrid(message.kind.value);
        return { kind: "snapshot", revision: this.localGrid.revision, grid: this.localGrid };
      case "change": {
        if (this.localGrid === undefined) {
          throw new Error(`change ${message.kind.value.revision} arrived before the snapshot`);
        }
        this.localGrid.apply(message.kind.value);
        return { kind: "change", revision: this.localGrid.revision, grid: this.localGrid, change: message.kind.value };
      }
      case "progress": {
        if (this.localGrid === undefined) return undefined;
        // Every revision up to head was delivered or filtered out.
        const head = message.kind.value.headRevision;
        if (head > this.localGrid.revision) this.localGrid.revision = head;
        return { kind: "progress", revision: this.localGrid.revision, grid: this.localGrid };
      }
      default:
        return undefined; // a kind this client does not know yet
    }
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done, { once: true });
  });
}
