// Test support: the real duckgrid binary on a free loopback port (the
// built-in demo seeded small, or one of the example models), and decimal/grid
// helpers.
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdtempSync, openSync, readFileSync, rmSync, statSync } from "node:fs";
import { homedir, tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as delay } from "node:timers/promises";
import { fileURLToPath } from "node:url";

import type { Grid } from "../src/index.js";

export const SEED = 7;
export const FACTS = 5000;
export const PRODUCT = "sheets/sales_by_product_family";
export const REGION = "sheets/sales_by_region";

/** The repository's examples/<name>/model.toml ("budget", "retail"); this file is dist/test/support.js. */
export function exampleModel(name: string): string {
  const path = fileURLToPath(new URL(`../../../../examples/${name}/model.toml`, import.meta.url));
  if (!existsSync(path)) throw new Error(`example model not found: ${path}`);
  return path;
}

/** $DUCKGRID_BIN, or scripts/env.sh's default. */
export function binary(): string {
  const bin =
    process.env["DUCKGRID_BIN"] ||
    join(process.env["CARGO_TARGET_DIR"] || join(homedir(), ".cache/duckgrid/target"), "debug", "duckgrid");
  if (!existsSync(bin) || !statSync(bin).isFile() || (statSync(bin).mode & 0o111) === 0) {
    throw new Error(`duckgrid binary not found at ${bin}: build the server first (cargo build) or set DUCKGRID_BIN`);
  }
  return bin;
}

export interface Server {
  addr: string;
  logTail(n?: number): string;
  /** SIGTERM, then up to 10 s for a graceful exit (killed and reported otherwise). */
  stop(): Promise<void>;
}

export interface ServerOptions {
  /** A model file (--model); without it the built-in demo (seed 7, 5000 facts). */
  model?: string;
}

/** Starts `duckgrid serve` in memory on a free port and waits (up to 180 s) until it serves. */
export async function startServer(options: ServerOptions = {}): Promise<Server> {
  const bin = binary();
  if (options.model !== undefined && !existsSync(options.model)) throw new Error(`model file not found: ${options.model}`);
  const source = options.model === undefined
    ? ["--seed", String(SEED), "--facts", String(FACTS)]
    : ["--model", options.model];
  const dir = mkdtempSync(join(tmpdir(), "duckgrid-ts-test-"));
  const addrFile = join(dir, "addr");
  const logPath = join(dir, "server.log");
  const log = openSync(logPath, "w");
  const child: ChildProcess = spawn(
    bin,
    ["serve", "--listen", "127.0.0.1:0", "--db", ":memory:", ...source,
      "--addr-file", addrFile, "--progress-interval-ms", "200"],
    { stdio: ["ignore", log, log] },
  );
  let exitCode: number | null | undefined;
  const exited = new Promise<void>((resolve) =>
    child.on("exit", (code, signal) => {
      exitCode = code ?? (signal ? -1 : null);
      resolve();
    }),
  );
  const logTail = (n = 40): string => readFileSync(logPath, "utf8").split("\n").slice(-n - 1).join("\n");
  const stop = async (): Promise<void> => {
    if (exitCode === undefined) {
      child.kill("SIGTERM");
      const timedOut = await Promise.race([exited.then(() => false), delay(10_000).then(() => true)]);
      if (timedOut) {
        child.kill("SIGKILL");
        await exited;
        throw new Error("duckgrid did not exit within 10s of SIGTERM");
      }
    }
    const tail = logTail();
    rmSync(dir, { recursive: true, force: true });
    if (exitCode !== 0) throw new Error(`duckgrid exited with ${exitCode} after SIGTERM:\n${tail}`);
  };
  const deadline = Date.now() + 180_000;
  for (;;) {
    if (existsSync(addrFile)) {
      const addr = readFileSync(addrFile, "utf8").trim();
      if (/^[^\s:]+:\d+$/.test(addr)) return { addr, logTail, stop };
    }
    if (exitCode !== undefined) throw new Error(`duckgrid exited (${exitCode}) before serving:\n${logTail()}`);
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`duckgrid did not write ${addrFile} within 180s:\n${logTail()}`);
    }
    await delay(50);
  }
}

/** A decimal string as an integer count of 10^-scale units ("" is an empty cell, read as 0). */
export function units(v: string, scale: number): bigint {
  if (v === "") return 0n;
  const m = /^(-?)(\d+)(?:\.(\d+))?$/.exec(v);
  if (m === null) throw new Error(`not a decimal: ${JSON.stringify(v)}`);
  const frac = m[3] ?? "";
  if (frac.length > scale) throw new Error(`${v} has more than ${scale} decimals`);
  const n = BigInt((m[2] ?? "0") + frac.padEnd(scale, "0"));
  return m[1] === "-" ? -n : n;
}

/** Formats a count of 10^-scale units as a decimal string. */
export function fromUnits(n: bigint, scale: number): string {
  const neg = n < 0n;
  const digits = (neg ? -n : n).toString().padStart(scale + 1, "0");
  const s = scale === 0 ? digits : `${digits.slice(0, -scale)}.${digits.slice(-scale)}`;
  return neg ? `-${s}` : s;
}

/** A grid read by (path, column, measure). */
export class Index {
  private readonly col = new Map<string, number>();
  private readonly rows = new Map<string, Grid["rows"][number]>();
  constructor(readonly grid: Grid) {
    grid.columns.forEach((c, i) => this.col.set(c, i));
    for (const r of grid.rows) this.rows.set(JSON.stringify(r.path), r);
  }
  value(path: readonly string[], column: string, measure: string): string {
    const row = this.rows.get(JSON.stringify(path));
    if (row === undefined) throw new Error(`row ${JSON.stringify(path)} not in grid`);
    const i = this.col.get(column);
    if (i === undefined) throw new Error(`column ${column} not in grid`);
    const mv = row.measures.find((m) => m.measure === measure);
    if (mv === undefined) throw new Error(`measure ${measure} not in row`);
    return mv.values[i] ?? "";
  }
  children(path: readonly string[]): string[][] {
    return this.grid.rows
      .filter((r) => r.path.length === path.length + 1 && path.every((p, i) => r.path[i] === p))
      .map((r) => [...r.path]);
  }
}

export async function waitFor(what: string, cond: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await delay(20);
  }
}
