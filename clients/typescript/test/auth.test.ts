// The client against servers with bearer-token auth (--auth-file), TLS
// (--tls-cert/--tls-key) and mutual TLS (--client-ca): certificates from
// `duckgrid certs new` and keys from `duckgrid keys new`, in a temp dir.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

import { Code, ConnectError } from "@connectrpc/connect";

import {
  type CellRef,
  type ConnectOptions,
  ERROR_DOMAIN,
  type Grid,
  type GridClient,
  LocalGrid,
  REASON_IMPERSONATION_NOT_ALLOWED,
  REASON_INVALID_TOKEN,
  REASON_MISSING_CREDENTIALS,
  REASON_ROLE_NOT_ALLOWED,
  REASON_SPREADING_NOT_ALLOWED,
  REASON_UNKNOWN_CERTIFICATE,
  SheetWatcher,
  type UpdateCellResponse,
  actorHeaders,
  cell,
  connect,
  errorInfo,
  firstLeaf,
  listSheets,
} from "../src/index.js";
import { type Certs, type Key, PRODUCT, REGION, type Server, newCerts, newKey, runExample, startServer, tempDir, waitFor } from "./support.js";

const WRITER = "alice";
const READER = "bob";
const CERT_WRITER = "carol";

let tmp: ReturnType<typeof tempDir>;
let certs: Certs; // the servers' CA: server certificate, client certificates carol and mallory
let otherCerts: Certs; // another CA, and a client certificate carol signed by it
let writerKey: Key;
let readerKey: Key;
let adminKey: Key;
/** --tls-cert/--tls-key --auth-file (alice writer, bob reader, root admin). */
let tlsAuth: Server;
/** --auth-file over plaintext. */
let plainAuth: Server;
/** --tls-cert/--tls-key --client-ca --auth-file (carol by certificate; bob by token). */
let mtlsAuth: Server;
/** --tls-cert/--tls-key --client-ca, no auth file: every valid certificate is a writer allowed to spread. */
let mtlsOnly: Server;

before(async () => {
  tmp = tempDir("duckgrid-ts-auth-");
  [certs, otherCerts, writerKey, readerKey, adminKey] = await Promise.all([
    newCerts(join(tmp.dir, "certs"), [CERT_WRITER, "mallory"]),
    newCerts(join(tmp.dir, "other-certs"), [CERT_WRITER]),
    newKey(WRITER, "writer", { id: "alice-key" }),
    newKey(READER, "reader", { id: "bob-key" }),
    newKey("root", "admin", { id: "root-key" }),
  ]);
  assert.notEqual(writerKey.token, readerKey.token);
  const keys = join(tmp.dir, "keys.toml");
  writeFileSync(keys, [writerKey.entry, readerKey.entry, adminKey.entry].join("\n"));
  const mtlsKeys = join(tmp.dir, "mtls-keys.toml");
  writeFileSync(mtlsKeys, [
    readerKey.entry,
    "[[principal]]",
    'id = "carol-cert"',
    `subject = "${CERT_WRITER}"`,
    'role = "writer"',
    `certificate = "${CERT_WRITER}"`,
    "",
  ].join("\n"));
  const tls = ["--tls-cert", certs.serverCert, "--tls-key", certs.serverKey];
  [tlsAuth, plainAuth, mtlsAuth, mtlsOnly] = await Promise.all([
    startServer({ args: [...tls, "--auth-file", keys] }),
    startServer({ args: ["--auth-file", keys] }),
    startServer({ args: [...tls, "--client-ca", certs.ca, "--auth-file", mtlsKeys] }),
    startServer({ args: [...tls, "--client-ca", certs.ca] }),
  ]);
});
after(async () => {
  const servers = [tlsAuth, plainAuth, mtlsAuth, mtlsOnly].filter((s) => s !== undefined);
  try {
    await Promise.all(servers.map((s) => s.stop()));
  } finally {
    tmp?.remove();
  }
});

/** A client of `server` over TLS trusting the servers' CA, with `extra` credentials. */
function tlsClient(server: Server, extra: ConnectOptions = {}): GridClient {
  return connect(server.addr, { ca: certs.ca, ...extra });
}

/** `call` fails with `code` and an ErrorInfo of domain "duckgrid" and `reason`. */
async function rejectsWith(call: Promise<unknown>, code: Code, reason: string): Promise<ConnectError> {
  const err = await call.then(
    () => assert.fail(`expected ${Code[code]} ${reason}, the call succeeded`),
    (e: unknown) => e,
  );
  assert.ok(err instanceof ConnectError, `not a ConnectError: ${String(err)}`);
  assert.equal(err.code, code, `code ${Code[err.code]} (${err.message}), expected ${Code[code]}`);
  const info = errorInfo(err);
  assert.ok(info, `no ErrorInfo in ${err.message}`);
  assert.equal(info.domain, ERROR_DOMAIN);
  assert.equal(info.reason, reason, err.message);
  return err;
}

/** `call` fails with UNAVAILABLE (a connection that could not be established). */
async function unavailable(call: Promise<unknown>): Promise<ConnectError> {
  const err = await call.then(
    () => assert.fail("expected UNAVAILABLE, the call succeeded"),
    (e: unknown) => e,
  );
  assert.ok(err instanceof ConnectError, `not a ConnectError: ${String(err)}`);
  assert.equal(err.code, Code.Unavailable, `code ${Code[err.code]} (${err.message}), expected Unavailable`);
  return err;
}

async function grid(client: GridClient, name: string, narrow: { columns?: string[]; measures?: string[] } = {}): Promise<Grid> {
  const g = (await client.getSheet({ name, ...narrow })).grid;
  assert.ok(g, "GetSheet returned no grid");
  return g;
}

/** The first leaf row's first month, quantity, of PRODUCT, and its value. */
async function leafCell(client: GridClient): Promise<{ ref: CellRef; value: string }> {
  const g = await grid(client, PRODUCT, { columns: ["2024-05"], measures: ["quantity"] });
  const leaf = firstLeaf(g);
  const value = leaf.measures.find((m) => m.measure === "quantity")?.values[0];
  assert.ok(value !== undefined);
  return { ref: cell(PRODUCT, leaf.path, "2024-05", "quantity"), value };
}

async function valueOf(client: GridClient, ref: CellRef): Promise<string> {
  const g = await grid(client, ref.sheet, { columns: [ref.column], measures: [ref.measure] });
  const row = g.rows.find((r) => JSON.stringify(r.path) === JSON.stringify(ref.rowPath));
  const value = row?.measures.find((m) => m.measure === ref.measure)?.values[0];
  assert.ok(value !== undefined, `no value for ${JSON.stringify(ref.rowPath)}`);
  return value;
}

/** Some other integer quantity than `value`. */
function another(value: string): string {
  return String((value === "" ? 0 : Number(value)) + 17);
}

/** The ChangeEvent of `revision`, read back with WatchUpdates (a server stream, with the client's credentials). */
async function actorOf(client: GridClient, revision: bigint): Promise<string> {
  const abort = new AbortController();
  try {
    for await (const m of client.watchUpdates({ startRevision: revision }, { signal: abort.signal, timeoutMs: 20_000 })) {
      if (m.kind.case === "change") {
        assert.equal(m.kind.value.revision, revision);
        return m.kind.value.actor;
      }
    }
  } finally {
    abort.abort();
  }
  assert.fail(`the watch ended before revision ${revision}`);
}

async function write(client: GridClient, ref: CellRef, value: string, headers: Record<string, string> = {}): Promise<UpdateCellResponse> {
  return client.updateCell({ edit: { cell: ref, value } }, { headers });
}

describe("auth + TLS", () => {
  it("a writer token over TLS lists sheets, reads a grid and writes a leaf cell as the key's subject", async () => {
    const client = tlsClient(tlsAuth, { token: writerKey.token });
    const sheets = await listSheets(client);
    assert.deepEqual(sheets.map((s) => s.name).filter((n) => n === PRODUCT || n === REGION).sort(), [PRODUCT, REGION]);
    const g = await grid(client, REGION);
    assert.ok(g.rows.length > 1);
    const { ref, value } = await leafCell(client);
    const next = another(value);
    const resp = await write(client, ref, next);
    assert.equal(resp.result?.previousValue, value);
    assert.equal(resp.result?.newValue, next);
    assert.equal(await valueOf(client, ref), next);
    assert.equal(await actorOf(client, resp.revision), WRITER);
  });

  it("the CA, client certificate and key may be PEM strings or bytes instead of paths", async () => {
    const client = connect(tlsAuth.addr, { ca: readFileSync(certs.ca), token: writerKey.token });
    assert.ok((await client.listSheets({})).sheets.length > 0);
    const text = connect(tlsAuth.addr, { ca: readFileSync(certs.ca, "utf8"), token: writerKey.token });
    assert.ok((await text.listSheets({})).sheets.length > 0);
    const carol = certs.client(CERT_WRITER);
    const mtls = connect(mtlsAuth.addr, { ca: readFileSync(certs.ca, "utf8"), cert: readFileSync(carol.cert), key: readFileSync(carol.key, "utf8") });
    assert.ok((await mtls.listSheets({})).sheets.length > 0);
  });

  it("no token: UNAUTHENTICATED, MISSING_CREDENTIALS (unary calls and streams)", async () => {
    const client = tlsClient(tlsAuth);
    await rejectsWith(client.listSheets({}), Code.Unauthenticated, REASON_MISSING_CREDENTIALS);
    const { ref } = await leafCell(tlsClient(tlsAuth, { token: readerKey.token }));
    await rejectsWith(write(client, ref, "1"), Code.Unauthenticated, REASON_MISSING_CREDENTIALS);
    await rejectsWith(actorOf(client, 1n), Code.Unauthenticated, REASON_MISSING_CREDENTIALS);
  });

  it("a wrong token: UNAUTHENTICATED, INVALID_TOKEN", async () => {
    const client = tlsClient(tlsAuth, { token: `dg_${"0".repeat(64)}` });
    await rejectsWith(client.listSheets({}), Code.Unauthenticated, REASON_INVALID_TOKEN);
    await rejectsWith(actorOf(client, 1n), Code.Unauthenticated, REASON_INVALID_TOKEN);
  });

  it("a reader token reads, and its UpdateCell is PERMISSION_DENIED, ROLE_NOT_ALLOWED, the value unchanged", async () => {
    const reader = tlsClient(tlsAuth, { token: readerKey.token });
    const { ref, value } = await leafCell(reader);
    await rejectsWith(write(reader, ref, another(value)), Code.PermissionDenied, REASON_ROLE_NOT_ALLOWED);
    assert.equal(await valueOf(reader, ref), value);
  });

  it("a writer without --spread: an aggregate cell is PERMISSION_DENIED, SPREADING_NOT_ALLOWED", async () => {
    const client = tlsClient(tlsAuth, { token: writerKey.token });
    const ref = cell(PRODUCT, [], "2024-06", "quantity");
    const before = await valueOf(client, ref);
    await rejectsWith(write(client, ref, another(before)), Code.PermissionDenied, REASON_SPREADING_NOT_ALLOWED);
    assert.equal(await valueOf(client, ref), before);
  });

  it("naming an actor: a writer is PERMISSION_DENIED, IMPERSONATION_NOT_ALLOWED; an admin may", async () => {
    const writer = tlsClient(tlsAuth, { token: writerKey.token });
    const { ref, value } = await leafCell(writer);
    await rejectsWith(
      write(writer, ref, another(value), actorHeaders("someone-else").headers),
      Code.PermissionDenied,
      REASON_IMPERSONATION_NOT_ALLOWED,
    );
    assert.equal(await valueOf(writer, ref), value);
    const admin = tlsClient(tlsAuth, { token: adminKey.token });
    const resp = await write(admin, ref, another(value), actorHeaders("on-behalf").headers);
    assert.equal(await actorOf(admin, resp.revision), "on-behalf (by root)"); // docs/AUTH.md: "bob (by alice)"
  });

  it("a client that does not trust the server's CA cannot connect: UNAVAILABLE", async () => {
    // Node's default roots, another CA, and the right CA but a name not in the certificate.
    await unavailable(connect(tlsAuth.addr, { tls: true, token: writerKey.token }).listSheets({}));
    await unavailable(connect(tlsAuth.addr, { ca: otherCerts.ca, token: writerKey.token }).listSheets({}));
    await unavailable(tlsClient(tlsAuth, { token: writerKey.token, serverName: "not-the-server.example" }).listSheets({}));
    await unavailable(actorOf(connect(tlsAuth.addr, { ca: otherCerts.ca, token: writerKey.token }), 1n));
    // The certificate's names: 127.0.0.1 (the address itself) and localhost.
    const named = tlsClient(tlsAuth, { token: writerKey.token, serverName: "localhost" });
    assert.ok((await named.listSheets({})).sheets.length > 0);
  });

  it("a plaintext client cannot call the TLS server", async () => {
    await assert.rejects(connect(tlsAuth.addr, { token: writerKey.token }).listSheets({ }, { timeoutMs: 10_000 }), ConnectError);
  });

  it("the watcher keeps a local copy equal to GetSheet after writes, over TLS with a token", async () => {
    const client = tlsClient(tlsAuth, { token: writerKey.token });
    const watcher = new SheetWatcher(client, PRODUCT);
    let failure: unknown;
    const actors: string[] = [];
    const running = (async () => {
      try {
        for await (const u of watcher.updates()) if (u.change !== undefined) actors.push(u.change.actor);
      } catch (e) {
        failure = e;
      }
    })();
    try {
      await waitFor("the snapshot", () => watcher.grid !== undefined || failure !== undefined);
      assert.equal(failure, undefined);
      const { ref, value } = await leafCell(client);
      const ra = (await write(client, ref, another(value))).revision;
      await waitFor("revision A", () => watcher.revision >= ra || failure !== undefined);
      watcher.dropStream(); // resumes from the last revision + 1, with the token again
      const rb = (await write(client, ref, another(another(value)))).revision;
      await waitFor("revision B", () => watcher.revision >= rb || failure !== undefined);
      assert.equal(failure, undefined);
      assert.deepEqual(watcher.grid?.diff(new LocalGrid(await grid(client, PRODUCT))), []);
      assert.ok(watcher.reconnects >= 1);
      assert.deepEqual(actors, [WRITER, WRITER]);
    } finally {
      watcher.stop();
      await running;
    }
    assert.equal(failure, undefined);
  });

  it("the watcher without a token stops with UNAUTHENTICATED instead of retrying", async () => {
    const watcher = new SheetWatcher(tlsClient(tlsAuth), PRODUCT, { minBackoffMs: 10 });
    try {
      await rejectsWith(
        (async () => {
          for await (const _ of watcher.updates()) assert.fail("an update without credentials");
        })(),
        Code.Unauthenticated,
        REASON_MISSING_CREDENTIALS,
      );
    } finally {
      watcher.stop();
    }
    assert.equal(watcher.reconnects, 0);
  });

  it("examples: watch (--ca, --token) and update (--ca, $DUCKGRID_TOKEN) over TLS", async () => {
    const dist = fileURLToPath(new URL("../examples/", import.meta.url));
    const env = { ...process.env };
    delete env["DUCKGRID_TOKEN"];
    const watch = runExample("watch", [
      "--addr", tlsAuth.addr, "--ca", certs.ca, "--token", readerKey.token, "--sheet", PRODUCT, "--changes", "1",
    ], env);
    try {
      const first = await watch.lines.next();
      assert.ok(!first.done && first.value.startsWith(`snapshot ${PRODUCT} at revision `), `watch printed ${String(first.value)} ${watch.stderr()}`);
      const client = tlsClient(tlsAuth, { token: writerKey.token });
      const revision = (await grid(client, PRODUCT, { columns: ["total"], measures: ["quantity"] })).revision;
      const { ref } = await leafCell(client);
      const run = promisify(execFile);
      const { stdout } = await run(process.execPath, [
        `${dist}update.js`, "--addr", tlsAuth.addr, "--ca", certs.ca, "--sheet", PRODUCT,
        "--row", ref.rowPath.join("/"), "--column", ref.column, "--measure", ref.measure, "--value", "4321",
      ], { env: { ...env, DUCKGRID_TOKEN: writerKey.token } });
      assert.ok(stdout.includes('-> "4321"'), stdout);
      const next = await watch.lines.next();
      assert.ok(!next.done && next.value.startsWith(`revision ${revision + 1n} by "${WRITER}"`), String(next.value));
      assert.equal(await watch.exited, 0, watch.stderr());
      // Without the token: the server's error, exit status 1.
      const failed = await run(process.execPath, [`${dist}update.js`, "--addr", tlsAuth.addr, "--ca", certs.ca, "--value", "1"], { env })
        .then(() => undefined, (e: { code?: number; stderr?: string }) => e);
      assert.equal(failed?.code, 1);
      assert.match(failed?.stderr ?? "", /unauthenticated/i);
    } finally {
      watch.kill();
    }
  });
});

describe("auth over plaintext", () => {
  it("a writer token writes as the key's subject; no token or a reader's write fails", async () => {
    const writer = connect(plainAuth.addr, { token: writerKey.token });
    const { ref, value } = await leafCell(writer);
    const resp = await write(writer, ref, another(value));
    assert.equal(await actorOf(writer, resp.revision), WRITER);
    await rejectsWith(connect(plainAuth.addr).listSheets({}), Code.Unauthenticated, REASON_MISSING_CREDENTIALS);
    await rejectsWith(actorOf(connect(plainAuth.addr), 1n), Code.Unauthenticated, REASON_MISSING_CREDENTIALS);
    const reader = connect(plainAuth.addr, { token: readerKey.token });
    await rejectsWith(write(reader, ref, value), Code.PermissionDenied, REASON_ROLE_NOT_ALLOWED);
    assert.equal(await valueOf(reader, ref), another(value));
  });
});

describe("mutual TLS", () => {
  it("with carol's client certificate a write is recorded with actor carol", async () => {
    const client = tlsClient(mtlsAuth, certs.client(CERT_WRITER));
    const { ref, value } = await leafCell(client);
    const resp = await write(client, ref, another(value));
    assert.equal(await valueOf(client, ref), another(value));
    assert.equal(await actorOf(client, resp.revision), CERT_WRITER);
  });

  it("the watcher follows over mutual TLS", async () => {
    const client = tlsClient(mtlsAuth, certs.client(CERT_WRITER));
    const watcher = new SheetWatcher(client, PRODUCT);
    let failure: unknown;
    const running = (async () => {
      try {
        for await (const _ of watcher.updates());
      } catch (e) {
        failure = e;
      }
    })();
    try {
      await waitFor("the snapshot", () => watcher.grid !== undefined || failure !== undefined);
      const { ref, value } = await leafCell(client);
      const r = (await write(client, ref, another(value))).revision;
      await waitFor("the write", () => watcher.revision >= r || failure !== undefined);
      assert.equal(failure, undefined);
      assert.deepEqual(watcher.grid?.diff(new LocalGrid(await grid(client, PRODUCT))), []);
    } finally {
      watcher.stop();
      await running;
    }
  });

  it("without a client certificate, or with one of another CA, the call fails: UNAVAILABLE", async () => {
    await unavailable(tlsClient(mtlsAuth).listSheets({}));
    await unavailable(tlsClient(mtlsAuth, { token: readerKey.token }).listSheets({}));
    await unavailable(tlsClient(mtlsAuth, otherCerts.client(CERT_WRITER)).listSheets({}));
    await unavailable(actorOf(tlsClient(mtlsAuth), 1n));
  });

  it("a valid certificate no principal names: UNAUTHENTICATED, UNKNOWN_CERTIFICATE", async () => {
    await rejectsWith(tlsClient(mtlsAuth, certs.client("mallory")).listSheets({}), Code.Unauthenticated, REASON_UNKNOWN_CERTIFICATE);
  });

  it("a bearer token sent with the certificate wins", async () => {
    const client = tlsClient(mtlsAuth, { ...certs.client(CERT_WRITER), token: readerKey.token });
    const { ref, value } = await leafCell(client);
    await rejectsWith(write(client, ref, another(value)), Code.PermissionDenied, REASON_ROLE_NOT_ALLOWED);
    assert.equal(await valueOf(client, ref), value);
  });

  it("without an auth file every valid certificate is a writer allowed to spread, named by its CN", async () => {
    const client = tlsClient(mtlsOnly, certs.client("mallory"));
    const ref = cell(PRODUCT, [], "2024-07", "quantity");
    const value = await valueOf(client, ref);
    const resp = await write(client, ref, another(value));
    assert.equal(await valueOf(client, ref), another(value));
    assert.equal(await actorOf(client, resp.revision), "mallory");
    await rejectsWith(write(client, ref, value, actorHeaders("someone-else").headers), Code.PermissionDenied, REASON_IMPERSONATION_NOT_ALLOWED);
    assert.equal(await valueOf(client, ref), another(value));
    await unavailable(tlsClient(mtlsOnly).listSheets({}));
  });
});

describe("connect options", () => {
  it("rejects a certificate without its key, TLS files with tls: false, and a malformed token", () => {
    assert.throws(() => connect("127.0.0.1:1", { ca: certs.ca, cert: certs.client(CERT_WRITER).cert }), /both cert and key/);
    assert.throws(() => connect("127.0.0.1:1", { tls: false, ca: certs.ca }), /need TLS/);
    assert.throws(() => connect("127.0.0.1:1", { token: "dg_a\nx-evil: 1" }), /token/);
    assert.throws(() => connect("127.0.0.1:1", { token: "  " }), /token/);
    assert.throws(() => connect("127.0.0.1:1", { ca: join(tmp.dir, "missing.pem") }), /cannot read ca/);
  });
});
