// Test support: the real duckgrid binary on a free loopback port (the
// built-in demo seeded small, or one of the example models), and decimal/grid
// helpers.
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { existsSync, mkdtempSync, openSync, readFileSync, rmSync, statSync } from "node:fs";
import { homedir, tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { setTimeout as delay } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

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
  /** More `serve` flags (--tls-cert, --auth-file, ...). */
  args?: readonly string[];
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
      "--addr-file", addrFile, "--progress-interval-ms", "200", ...(options.args ?? [])],
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

/** A temp directory, removed by the returned function. */
export function tempDir(prefix = "duckgrid-ts-test-"): { dir: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** The files `duckgrid certs new` wrote. */
export interface Certs {
  ca: string;
  serverCert: string;
  serverKey: string;
  /** client-NAME.pem and client-NAME.key of each --client NAME. */
  client(name: string): { cert: string; key: string };
}

/** `duckgrid certs new --out DIR [--client NAME]...`: a fresh CA and certificates signed by it. */
export async function newCerts(dir: string, clients: readonly string[] = []): Promise<Certs> {
  await promisify(execFile)(binary(), ["certs", "new", "--out", dir, ...clients.flatMap((c) => ["--client", c])]);
  const file = (name: string): string => {
    const path = join(dir, name);
    if (!existsSync(path)) throw new Error(`duckgrid certs new did not write ${path}`);
    return path;
  };
  const certs = { ca: file("ca.pem"), serverCert: file("server.pem"), serverKey: file("server.key") };
  for (const c of clients) {
    file(`client-${c}.pem`);
    file(`client-${c}.key`);
  }
  return { ...certs, client: (name) => ({ cert: file(`client-${name}.pem`), key: file(`client-${name}.key`) }) };
}

/** A key of `duckgrid keys new`: its token and its keys-file entry. */
export interface Key {
  token: string;
  /** The TOML `[[principal]]` entry (stdout without the token line). */
  entry: string;
}

/** `duckgrid keys new --subject S --role R [--spread] [--id ID]`, the token parsed from its `#   dg_...` line. */
export async function newKey(subject: string, role: "reader" | "writer" | "admin", opts: { spread?: boolean; id?: string } = {}): Promise<Key> {
  const args = ["keys", "new", "--subject", subject, "--role", role];
  if (opts.spread === true) args.push("--spread");
  if (opts.id !== undefined) args.push("--id", opts.id);
  const { stdout } = await promisify(execFile)(binary(), args);
  const lines = stdout.split("\n");
  const tokens = lines.map((l) => /^#\s+(dg_[0-9a-f]{64})\s*$/.exec(l)?.[1]).filter((t) => t !== undefined);
  if (tokens.length !== 1) throw new Error(`duckgrid ${args.join(" ")} printed ${tokens.length} token lines:\n${stdout}`);
  if (!stdout.includes("[[principal]]")) throw new Error(`duckgrid ${args.join(" ")} printed no [[principal]] entry:\n${stdout}`);
  const entry = lines.filter((l) => !l.includes(tokens[0]!)).join("\n");
  return { token: tokens[0]!, entry };
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

/** A running example program (dist/examples/NAME.js): its output lines, what it wrote to stderr so far, its exit. */
export interface Example {
  lines: AsyncIterator<string>;
  stderr(): string;
  exited: Promise<number | null>;
  kill(): void;
}

export function runExample(name: string, args: string[], env: NodeJS.ProcessEnv = process.env): Example {
  const dist = fileURLToPath(new URL("../examples/", import.meta.url));
  const child = spawn(process.execPath, [`${dist}${name}.js`, ...args], { stdio: ["ignore", "pipe", "pipe"], env });
  let stderr = "";
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  return { lines, stderr: () => stderr, exited, kill: () => child.kill() };
}
