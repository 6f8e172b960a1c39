// cellHistory's paging and undo's request without a server: an in-memory
// GridService that returns short and empty pages before the end.
import assert from "node:assert/strict";
import { it } from "node:test";

import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, createClient, createRouterTransport } from "@connectrpc/connect";

import {
  ACTOR_HEADER,
  ErrorInfoSchema,
  GridService,
  type ListRevisionsRequest,
  REASON_NOTHING_TO_UNDO,
  REASON_REVISION_CONFLICT,
  RevisionSchema,
  type UndoRequest,
  cell,
  cellHistory,
  conflictingRevisions,
  isNothingToUndo,
  listCellHistory,
  undo,
} from "../src/index.js";

const ref = cell("sheets/s", ["A", "B"], "2024-01", "quantity");
const time = new Date("2025-01-02T03:04:05.678Z");

/** Revisions 10..1 of `ref` (revision n sets it from n-1 to n), served newest first in pages of
 * page_size, where every third call returns an empty page (with a token). */
function fakeServer() {
  const requests: ListRevisionsRequest[] = [];
  const undos: { req: UndoRequest; actor: string | null }[] = [];
  let calls = 0;
  const revisions = Array.from({ length: 10 }, (_, i) => {
    const n = BigInt(10 - i);
    return create(RevisionSchema, {
      change: {
        revision: n,
        commitTime: timestampFromDate(time),
        actor: "alice",
        requestId: `r${n}`,
        sessionId: "s",
        changes: [{ sheet: ref.sheet, cells: [{ rowPath: ref.rowPath, column: ref.column, measure: ref.measure, previousValue: String(n - 1n), value: String(n) }] }],
      },
      revertedBy: n === 10n ? 11n : 0n,
    });
  });
  const transport = createRouterTransport(({ service }) => {
    service(GridService, {
      listRevisions(req) {
        requests.push(req);
        assert.deepEqual(req.cell?.rowPath, ref.rowPath);
        const start = req.pageToken === "" ? 0 : Number(req.pageToken.split(".")[0]);
        if (++calls % 3 === 0) return { revisions: [], nextPageToken: `${start}.${calls}` }; // the scan hit its bound
        const end = Math.min(start + (req.pageSize || 50), revisions.length);
        return { revisions: revisions.slice(start, end), nextPageToken: end < revisions.length ? String(end) : "" };
      },
      undo(req, ctx) {
        undos.push({ req, actor: ctx.requestHeader.get(ACTOR_HEADER) });
        if (req.sessionId === "empty") {
          throw new ConnectError("nothing to undo", Code.FailedPrecondition, undefined, [
            { desc: ErrorInfoSchema, value: { reason: REASON_NOTHING_TO_UNDO, domain: "duckgrid" } },
          ]);
        }
        if (req.overwrite === false && req.expectedHead === 7n) {
          throw new ConnectError("conflict", Code.Aborted, undefined, [
            { desc: ErrorInfoSchema, value: { reason: REASON_REVISION_CONFLICT, domain: "duckgrid", metadata: { conflicting_revisions: "8,12", revision: "7" } } },
          ]);
        }
        return { revision: { change: { revision: 12n, revertsRevision: 9n, actor: "alice" } } };
      },
    });
  });
  return { client: createClient(GridService, transport), requests, undos };
}

it("cellHistory follows tokens across short and empty pages", async () => {
  const { client, requests } = fakeServer();
  const all = await listCellHistory(client, ref, { pageSize: 3 });
  assert.deepEqual(all.map((e) => e.revision), [10n, 9n, 8n, 7n, 6n, 5n, 4n, 3n, 2n, 1n]);
  assert.ok(requests.length > 4, "some pages were empty");
  assert.ok(requests.every((r) => r.pageSize === 3));
  const [e] = all;
  assert.deepEqual(
    { ...e, raw: undefined },
    { revision: 10n, commitTime: time, actor: "alice", requestId: "r10", sessionId: "s", before: "9", after: "10", revertsRevision: 0n, revertedBy: 11n, raw: undefined },
  );
});

it("cellHistory stops at the limit, asking for no more than it needs", async () => {
  const { client, requests } = fakeServer();
  const got = await listCellHistory(client, ref, { limit: 4, pageSize: 3 });
  assert.deepEqual(got.map((e) => e.revision), [10n, 9n, 8n, 7n]);
  assert.deepEqual(requests.map((r) => r.pageSize), [3, 1]);
  assert.deepEqual(await listCellHistory(client, ref, { limit: 0 }), []);
  // Breaking out of the iterator stops paging.
  const fresh = fakeServer();
  for await (const e of cellHistory(fresh.client, ref, { pageSize: 2 })) if (e.revision === 9n) break;
  assert.equal(fresh.requests.length, 1);
});

it("undo sends the options and the caller's metadata; its errors", async () => {
  const { client, undos } = fakeServer();
  const r = await undo(client, { sessionId: "s", expectedHead: 11n, overwrite: true, requestId: "u1", headers: { [ACTOR_HEADER]: "alice" } });
  assert.equal(r.change?.revertsRevision, 9n);
  assert.deepEqual(
    [undos[0]?.req.sessionId, undos[0]?.req.expectedHead, undos[0]?.req.overwrite, undos[0]?.req.requestId, undos[0]?.actor],
    ["s", 11n, true, "u1", "alice"],
  );
  await undo(client);
  assert.equal(undos[1]?.req.expectedHead, undefined, "no expected_head unless given");
  await assert.rejects(undo(client, { sessionId: "empty" }), (e: unknown) => isNothingToUndo(e) && conflictingRevisions(e) === undefined);
  await assert.rejects(undo(client, { expectedHead: 7n }), (e: unknown) => {
    assert.deepEqual(conflictingRevisions(e), [8n, 12n]);
    return !isNothingToUndo(e);
  });
});
