// A local copy of one sheet, kept current by applying change events.
import type { ChangeEvent, Grid } from "./gen/duckgrid/v1/grid_pb.js";

/**
 * A change event that is not the next revision of the local copy: the stream
 * skipped or repeated revisions (it promises neither), so the copy can no
 * longer be trusted.
 */
export class RevisionError extends Error {
  constructor(
    readonly have: bigint,
    readonly got: bigint,
  ) {
    super(`out-of-order change: local copy is at revision ${have}, received ${got} (want ${have + 1n})`);
    this.name = "RevisionError";
  }
}

function key(path: readonly string[], column: string, measure: string): string {
  return JSON.stringify([path, column, measure]);
}

/**
 * A sheet's cells at one revision: from a snapshot (or GetSheet), then `apply`
 * each change in order.
 *
 * Nothing is assumed about the sheet: any column keys (months, quarter and year
 * subtotals, the total), any row depth (ragged hierarchies, a second dimension
 * nested under the first), any measures. Row captions come from the snapshot
 * (change events carry values only).
 */
export class LocalGrid {
  readonly sheet: string;
  revision: bigint;
  readonly columns: readonly string[];
  private readonly rowKeys = new Map<string, readonly string[]>();
  private readonly values = new Map<string, string>();
  private readonly captions = new Map<string, string>();

  constructor(grid: Grid) {
    this.sheet = grid.sheet;
    this.revision = grid.revision;
    this.columns = [...grid.columns];
    for (const row of grid.rows) {
      this.rowKeys.set(JSON.stringify(row.path), [...row.path]);
      if (row.caption !== "") this.captions.set(JSON.stringify(row.path), row.caption);
      for (const mv of row.measures) {
        mv.values.forEach((v, i) => {
          const column = this.columns[i];
          if (column !== undefined) this.values.set(key(row.path, column, mv.measure), v);
        });
      }
    }
  }

  /**
   * Applies one change event, which must be revision `revision + 1` (anything
   * else throws RevisionError and changes nothing). Returns how many of this
   * sheet's cells it set.
   */
  apply(event: ChangeEvent): number {
    if (event.revision !== this.revision + 1n) throw new RevisionError(this.revision, event.revision);
    let changed = 0;
    for (const sc of event.changes) {
      if (sc.sheet !== this.sheet) continue;
      for (const c of sc.cells) {
        const rk = JSON.stringify(c.rowPath);
        if (!this.rowKeys.has(rk)) this.rowKeys.set(rk, [...c.rowPath]);
        this.values.set(key(c.rowPath, c.column, c.measure), c.value);
        changed++;
      }
    }
    this.revision = event.revision;
    return changed;
  }

  /** A cell's value ("" for an empty cell); undefined when the copy lacks the cell. */
  value(path: readonly string[], column: string, measure: string): string | undefined {
    return this.values.get(key(path, column, measure));
  }

  /** The row's caption (Row.caption, such as a member's code); "" when it has none. */
  caption(path: readonly string[]): string {
    return this.captions.get(JSON.stringify(path)) ?? "";
  }

  /** Row paths in grid order. */
  get rows(): (readonly string[])[] {
    return [...this.rowKeys.values()];
  }

  get size(): number {
    return this.values.size;
  }

  /** Up to `limit` cells where the two copies differ (revisions are not compared). */
  diff(other: LocalGrid, limit = 10): string[] {
    const out: string[] = [];
    const keys = new Set([...this.values.keys(), ...other.values.keys()]);
    for (const k of [...keys].sort()) {
      const mine = this.values.get(k);
      const theirs = other.values.get(k);
      if (mine !== theirs) {
        out.push(`${k}: ${JSON.stringify(mine)} vs ${JSON.stringify(theirs)}`);
        if (out.length >= limit) break;
      }
    }
    return out;
  }
}
