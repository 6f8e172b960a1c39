package duckgrid_test

// History and undo against the suite's server: CellHistory, Undo,
// RevertRevision and GetSheet at a revision. Each test writes its own
// column of the first leaf row (no other test writes it) as its own actor.

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/duckgrid/duckgrid/clients/go/duckgrid"
	"github.com/duckgrid/duckgrid/clients/go/duckgridv1"
)

// writeCell sets cell to v with request id reqID and returns the revision;
// the server must echo v as the new value.
func writeCell(t *testing.T, ctx context.Context, c duckgridv1.GridServiceClient, cell *duckgridv1.CellRef, v, reqID string) int64 {
	t.Helper()
	resp, err := c.UpdateCell(ctx, &duckgridv1.UpdateCellRequest{Edit: &duckgridv1.CellEdit{Cell: cell, Value: v}, RequestId: reqID})
	if err != nil {
		t.Fatalf("UpdateCell(%q): %v", v, err)
	}
	if got := resp.GetResult().GetNewValue(); got != v {
		t.Fatalf("UpdateCell(%q): new value %q", v, got)
	}
	return resp.GetRevision()
}

// valueAt reads cell from GetSheet at revision rev (0: the latest).
func valueAt(t *testing.T, ctx context.Context, c duckgridv1.GridServiceClient, cell *duckgridv1.CellRef, rev int64) string {
	t.Helper()
	req := &duckgridv1.GetSheetRequest{Name: cell.GetSheet()}
	if rev != 0 {
		req.Revision = &rev
	}
	g := getGrid(t, ctx, c, req)
	if rev != 0 && g.GetRevision() != rev {
		t.Errorf("GetSheet(revision %d) returned the grid at revision %d", rev, g.GetRevision())
	}
	return newIndex(g).value(t, cell.GetRowPath(), cell.GetColumn(), cell.GetMeasure())
}

// wantValueAt checks cell's value at rev (0: the latest).
func wantValueAt(t *testing.T, ctx context.Context, c duckgridv1.GridServiceClient, cell *duckgridv1.CellRef, rev int64, want, why string) {
	t.Helper()
	if got := valueAt(t, ctx, c, cell, rev); got != want {
		t.Errorf("GetSheet(revision %d) %s: %q, want %q (%s)", rev, cell.GetColumn(), got, want, why)
	}
}

// cellChange finds cell in a change event's changes.
func cellChange(ev *duckgridv1.ChangeEvent, cell *duckgridv1.CellRef) *duckgridv1.CellChange {
	for _, sc := range ev.GetChanges() {
		if sc.GetSheet() != cell.GetSheet() {
			continue
		}
		for _, cc := range sc.GetCells() {
			if cc.GetColumn() == cell.GetColumn() && cc.GetMeasure() == cell.GetMeasure() && slices.Equal(cc.GetRowPath(), cell.GetRowPath()) {
				return cc
			}
		}
	}
	return nil
}

// errDetail formats the ErrorInfo of err, if any.
func errDetail(err error) string {
	if info, ok := duckgrid.ErrorInfo(err); ok {
		return fmt.Sprintf(" (ErrorInfo %s %v)", info.GetReason(), info.GetMetadata())
	}
	return ""
}

func history(t *testing.T, ctx context.Context, c duckgridv1.GridServiceClient, cell *duckgridv1.CellRef, opts duckgrid.HistoryOptions) []duckgrid.HistoryEntry {
	t.Helper()
	h, err := duckgrid.CellHistory(ctx, c, cell, opts)
	if err != nil {
		t.Fatalf("CellHistory: %v", err)
	}
	for i := 1; i < len(h); i++ {
		if h[i].Revision >= h[i-1].Revision {
			t.Errorf("CellHistory not newest first: revision %d after %d", h[i].Revision, h[i-1].Revision)
		}
	}
	return h
}

// wantEntry checks a history entry; want.CommitTime is not compared.
func wantEntry(t *testing.T, h []duckgrid.HistoryEntry, i int, want duckgrid.HistoryEntry) {
	t.Helper()
	if len(h) <= i {
		t.Errorf("CellHistory has %d entries, want revision %d at index %d", len(h), want.Revision, i)
		return
	}
	got := h[i]
	if got.CommitTime.IsZero() || time.Since(got.CommitTime) > time.Hour || time.Until(got.CommitTime) > time.Minute {
		t.Errorf("entry %d: commit time %v, want about now", i, got.CommitTime)
	}
	got.CommitTime = time.Time{}
	if got != want {
		t.Errorf("entry %d:\n got %+v\nwant %+v", i, got, want)
	}
}

// TestCellHistoryAndUndo: two writes in one session, listed newest first
// with their values before and after; two undos take them back newest
// first, the grid at each revision stays readable, and a third undo finds
// nothing.
func TestCellHistoryAndUndo(t *testing.T) {
	c, ctx := client(t), testCtx(t)
	const actor = "go-history-test"
	session := fmt.Sprintf("go-history-%d", time.Now().UnixNano())
	mine := duckgrid.WithSession(duckgrid.WithActor(ctx, actor), session)
	cell, v0, head0 := leafCell(t, ctx, c, "2024-11", "net_amount")
	v1 := otherValue(v0, "1111.10", "1111.20")
	v2 := otherValue(v1, "2222.20", "2222.30")
	rev1 := writeCell(t, mine, c, cell, v1, session+"-w1")
	rev2 := writeCell(t, mine, c, cell, v2, session+"-w2")
	e1 := duckgrid.HistoryEntry{Revision: rev1, Actor: actor, RequestID: session + "-w1", SessionID: session, Before: v0, After: v1}
	e2 := duckgrid.HistoryEntry{Revision: rev2, Actor: actor, RequestID: session + "-w2", SessionID: session, Before: v1, After: v2}

	// One revision a page: CellHistory follows the tokens.
	h := history(t, ctx, c, cell, duckgrid.HistoryOptions{PageSize: 1})
	wantEntry(t, h, 0, e2)
	wantEntry(t, h, 1, e1)
	if len(h) >= 2 && h[0].CommitTime.Before(h[1].CommitTime) {
		t.Errorf("commit times %v then %v: the newer revision committed first", h[1].CommitTime, h[0].CommitTime)
	}
	if lim := history(t, ctx, c, cell, duckgrid.HistoryOptions{Limit: 1}); len(lim) != 1 || lim[0].Revision != rev2 {
		t.Errorf("CellHistory(Limit 1) = %+v, want revision %d only", lim, rev2)
	}
	// The raw entries of the cell filter: one sheet, one cell each.
	resp, err := c.ListRevisions(ctx, &duckgridv1.ListRevisionsRequest{Cell: cell, PageSize: 2})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range resp.GetRevisions() {
		if ch := r.GetChange().GetChanges(); len(ch) != 1 || len(ch[0].GetCells()) != 1 {
			t.Errorf("ListRevisions(cell) revision %d changes = %v, want exactly the one cell", r.GetChange().GetRevision(), ch)
		}
	}

	wantValueAt(t, ctx, c, cell, rev1, v1, "the first write")
	if head0 > 0 {
		wantValueAt(t, ctx, c, cell, head0, v0, "before the writes")
	}

	// Undo only looks at the caller's writes in the session asked for.
	_, err = duckgrid.Undo(duckgrid.WithActor(ctx, actor), c, duckgrid.UndoOptions{SessionID: session + "-other"})
	wantError(t, "Undo in a session without writes", err, codes.FailedPrecondition, duckgrid.ReasonNothingToUndo)
	_, err = duckgrid.Undo(duckgrid.WithActor(ctx, actor+"-other"), c, duckgrid.UndoOptions{SessionID: session})
	wantError(t, "Undo by another actor", err, codes.FailedPrecondition, duckgrid.ReasonNothingToUndo)
	_, err = duckgrid.Undo(mine, c, duckgrid.UndoOptions{SessionID: session, ExpectedHead: proto.Int64(rev2 - 1)})
	wantError(t, "Undo with a stale expected head", err, codes.Aborted, duckgrid.ReasonHeadMoved)
	if info, ok := duckgrid.ErrorInfo(err); ok && info.GetMetadata()["head_revision"] != strconv.FormatInt(rev2, 10) {
		t.Errorf("HEAD_MOVED head_revision = %q, want %d", info.GetMetadata()["head_revision"], rev2)
	}

	// The first undo takes back the second write.
	u1, err := duckgrid.Undo(mine, c, duckgrid.UndoOptions{SessionID: session, ExpectedHead: proto.Int64(rev2), RequestID: session + "-u1"})
	if err != nil {
		t.Fatalf("first Undo: %v%s", err, errDetail(err))
	}
	ev := u1.GetChange()
	if ev.GetRevertsRevision() != rev2 || ev.GetRevision() != rev2+1 || len(ev.GetEdits()) != 0 || ev.GetActor() != actor {
		t.Errorf("first Undo = revision %d reverting %d by %q with %d edits; want revision %d reverting %d by %q, no edits",
			ev.GetRevision(), ev.GetRevertsRevision(), ev.GetActor(), len(ev.GetEdits()), rev2+1, rev2, actor)
	}
	if cc := cellChange(ev, cell); cc == nil || cc.GetValue() != v1 || cc.GetPreviousValue() != v2 {
		t.Errorf("first Undo's change of the cell = %v, want %q -> %q", cc, v2, v1)
	}
	u1rev := ev.GetRevision()
	wantValueAt(t, ctx, c, cell, 0, v1, "the second write undone")
	wantValueAt(t, ctx, c, cell, rev1, v1, "the first write")
	wantValueAt(t, ctx, c, cell, rev2, v2, "the second write, before its undo")

	// Watchers see the revert as a change without edits.
	stream, err := c.WatchUpdates(ctx, &duckgridv1.WatchUpdatesRequest{Sheet: cell.GetSheet(), StartRevision: u1rev})
	if err != nil {
		t.Fatal(err)
	}
	if w := recvChange(t, stream); w.GetRevision() != u1rev || w.GetRevertsRevision() != rev2 || len(w.GetEdits()) != 0 ||
		cellChange(w, cell).GetValue() != v1 {
		t.Errorf("WatchUpdates from %d: revision %d reverting %d, %d edits, cell %v; want the revert of %d setting %q",
			u1rev, w.GetRevision(), w.GetRevertsRevision(), len(w.GetEdits()), cellChange(w, cell), rev2, v1)
	}

	got, err := c.GetRevision(ctx, &duckgridv1.GetRevisionRequest{Revision: rev2})
	if err != nil {
		t.Fatal(err)
	}
	if got.GetRevision().GetRevertedBy() != u1rev || got.GetRevision().GetChange().GetSessionId() != session {
		t.Errorf("GetRevision(%d): reverted_by %d, session %q; want %d, %q", rev2,
			got.GetRevision().GetRevertedBy(), got.GetRevision().GetChange().GetSessionId(), u1rev, session)
	}
	h = history(t, ctx, c, cell, duckgrid.HistoryOptions{})
	if len(h) > 0 {
		// The revert's own actor, session and request id are checked above.
		e := duckgrid.HistoryEntry{Revision: u1rev, Actor: h[0].Actor, RequestID: h[0].RequestID, SessionID: h[0].SessionID,
			Before: v2, After: v1, RevertsRevision: rev2}
		wantEntry(t, h, 0, e)
	}
	e2.RevertedBy = u1rev
	wantEntry(t, h, 1, e2)
	wantEntry(t, h, 2, e1)

	// The second undo takes back the first write.
	u2, err := duckgrid.Undo(mine, c, duckgrid.UndoOptions{SessionID: session})
	if err != nil {
		t.Fatalf("second Undo (contract: Undo twice undoes the two latest edits): %v%s", err, errDetail(err))
	}
	if u2.GetChange().GetRevertsRevision() != rev1 {
		t.Errorf("second Undo reverted revision %d, want %d", u2.GetChange().GetRevertsRevision(), rev1)
	}
	wantValueAt(t, ctx, c, cell, 0, v0, "both writes undone")
	wantValueAt(t, ctx, c, cell, rev1, v1, "the first write, before its undo")

	_, err = duckgrid.Undo(mine, c, duckgrid.UndoOptions{SessionID: session})
	wantError(t, "a third Undo", err, codes.FailedPrecondition, duckgrid.ReasonNothingToUndo)
}

// TestRevertConflict: reverting a revision a later one changed the same
// cell of is refused, naming the later one, unless overwrite; reverting
// that revert restores the later write.
func TestRevertConflict(t *testing.T) {
	c, ctx := client(t), testCtx(t)
	cell, v0, _ := leafCell(t, ctx, c, "2025-08", "net_amount")
	a := otherValue(v0, "808.01", "808.02")
	b := otherValue(a, "909.01", "909.02")
	revA := writeCell(t, duckgrid.WithActor(ctx, "go-conflict-a"), c, cell, a, "")
	revB := writeCell(t, duckgrid.WithActor(ctx, "go-conflict-b"), c, cell, b, "")

	_, err := c.RevertRevision(ctx, &duckgridv1.RevertRevisionRequest{Revision: revA})
	wantError(t, "reverting a revision changed since", err, codes.Aborted, duckgrid.ReasonRevisionConflict)
	if later, ok := duckgrid.ConflictingRevisions(err); !ok || !slices.Equal(later, []int64{revB}) {
		t.Errorf("conflicting revisions = %v (%v), want [%d]", later, ok, revB)
	}
	if info, ok := duckgrid.ErrorInfo(err); ok && info.GetMetadata()["revision"] != strconv.FormatInt(revA, 10) {
		t.Errorf("REVISION_CONFLICT revision = %q, want %d", info.GetMetadata()["revision"], revA)
	}
	// Undo of A's latest revision meets the same conflict.
	_, err = duckgrid.Undo(duckgrid.WithActor(ctx, "go-conflict-a"), c, duckgrid.UndoOptions{})
	wantError(t, "undoing a revision changed since", err, codes.Aborted, duckgrid.ReasonRevisionConflict)
	if later, ok := duckgrid.ConflictingRevisions(err); !ok || !slices.Equal(later, []int64{revB}) {
		t.Errorf("Undo: conflicting revisions = %v (%v), want [%d]", later, ok, revB)
	}
	wantValueAt(t, ctx, c, cell, 0, b, "the refused reverts changed nothing")

	_, err = c.RevertRevision(ctx, &duckgridv1.RevertRevisionRequest{Revision: revB, ExpectedHead: proto.Int64(revA)})
	wantError(t, "RevertRevision with a stale expected head", err, codes.Aborted, duckgrid.ReasonHeadMoved)

	// Overwrite: A's revert restores the value before A.
	r3, err := c.RevertRevision(ctx, &duckgridv1.RevertRevisionRequest{Revision: revA, Overwrite: true})
	if err != nil {
		t.Fatalf("RevertRevision(overwrite): %v%s", err, errDetail(err))
	}
	rev3 := r3.GetRevision().GetChange().GetRevision()
	if r3.GetRevision().GetChange().GetRevertsRevision() != revA {
		t.Errorf("RevertRevision(%d) reverts %d", revA, r3.GetRevision().GetChange().GetRevertsRevision())
	}
	wantValueAt(t, ctx, c, cell, 0, v0, "A reverted with overwrite")

	// Reverting the revert restores what it took back.
	r4, err := c.RevertRevision(ctx, &duckgridv1.RevertRevisionRequest{Revision: rev3})
	if err != nil {
		t.Fatalf("RevertRevision of the revert: %v%s", err, errDetail(err))
	}
	rev4 := r4.GetRevision().GetChange().GetRevision()
	wantValueAt(t, ctx, c, cell, 0, b, "the revert reverted")
	for rev, want := range map[int64]int64{revA: 0, rev3: rev4} {
		got, err := c.GetRevision(ctx, &duckgridv1.GetRevisionRequest{Revision: rev})
		if err != nil {
			t.Fatal(err)
		}
		if got.GetRevision().GetRevertedBy() != want {
			t.Errorf("GetRevision(%d).reverted_by = %d, want %d", rev, got.GetRevision().GetRevertedBy(), want)
		}
	}
	h := history(t, ctx, c, cell, duckgrid.HistoryOptions{Limit: 4})
	var revs []int64
	for _, e := range h {
		revs = append(revs, e.Revision)
	}
	if !slices.Equal(revs, []int64{rev4, rev3, revB, revA}) {
		t.Errorf("CellHistory revisions = %v, want %v", revs, []int64{rev4, rev3, revB, revA})
	}
	if len(h) == 4 && (h[1].Before != b || h[1].After != v0 || h[1].RevertsRevision != revA || h[1].RevertedBy != rev4) {
		t.Errorf("CellHistory entry of the revert: %+v", h[1])
	}

	// Beyond the head.
	head := rev4
	_, err = c.GetSheet(ctx, &duckgridv1.GetSheetRequest{Name: cell.GetSheet(), Revision: proto.Int64(head + 100)})
	wantError(t, "GetSheet above the head", err, codes.OutOfRange, duckgrid.ReasonRevisionOutOfRange)
	if info, ok := duckgrid.ErrorInfo(err); ok && info.GetMetadata()["head_revision"] != strconv.FormatInt(head, 10) {
		t.Errorf("REVISION_OUT_OF_RANGE head_revision = %q, want %d", info.GetMetadata()["head_revision"], head)
	}
	_, err = c.GetRevision(ctx, &duckgridv1.GetRevisionRequest{Revision: head + 100})
	wantError(t, "GetRevision above the head", err, codes.NotFound, "")
	_, err = c.RevertRevision(ctx, &duckgridv1.RevertRevisionRequest{Revision: head + 100})
	wantError(t, "RevertRevision above the head", err, codes.NotFound, "")
}

// TestHistoryExample builds ./examples/history and runs it: --undo takes
// back the actor's latest write, then the history lists the undo and both
// writes, newest first.
func TestHistoryExample(t *testing.T) {
	c, ctx := client(t), testCtx(t)
	const actor = "go-history-example"
	cell, v0, _ := leafCell(t, ctx, c, "2025-09", "net_amount")
	v1 := otherValue(v0, "919.10", "919.20")
	v2 := otherValue(v1, "929.10", "929.20")
	rev1 := writeCell(t, duckgrid.WithActor(ctx, actor), c, cell, v1, "")
	rev2 := writeCell(t, duckgrid.WithActor(ctx, actor), c, cell, v2, "")

	bin := filepath.Join(exampleBinaries(t, ctx), "history")
	out, err := exec.CommandContext(ctx, bin, "--addr", sharedServer.Addr, "--column", "2025-09", "--measure", "net_amount",
		"--actor", actor, "--undo").CombinedOutput()
	if err != nil {
		t.Fatalf("history --undo: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	undo := fmt.Sprintf("undid revision %d by %q: revision %d ", rev2, actor, rev2+1)
	title := fmt.Sprintf("history of [%s] 2025-09 net_amount in %s:", duckgrid.FormatPath(cell.GetRowPath()), cell.GetSheet())
	wants := []string{
		undo, title,
		fmt.Sprintf("  revision %d at ", rev2+1),
		fmt.Sprintf("  revision %d at ", rev2),
		fmt.Sprintf("  revision %d at ", rev1),
	}
	ends := []string{"", "", fmt.Sprintf(": %q -> %q, reverts %d", v2, v1, rev2),
		fmt.Sprintf(` by %q: %q -> %q, reverted by %d`, actor, v1, v2, rev2+1), fmt.Sprintf(` by %q: %q -> %q`, actor, v0, v1)}
	for i, w := range wants {
		if i >= len(lines) || !strings.HasPrefix(lines[i], w) || !strings.HasSuffix(lines[i], ends[i]) {
			t.Errorf("history printed:\n%s\nwant line %d to start %q and end %q", out, i+1, w, ends[i])
			break
		}
	}
	wantValueAt(t, ctx, c, cell, 0, v1, "the example's undo")

	// Without flags: the first sheet's first leaf, month and measure; the
	// default actor has nothing to undo.
	out, err = exec.CommandContext(ctx, bin, "--addr", sharedServer.Addr, "--limit", "2", "--undo").CombinedOutput()
	if err != nil {
		t.Fatalf("history: %v\n%s", err, out)
	}
	if !strings.HasPrefix(string(out), "undo: nothing of \"go-example\"'s to undo\nhistory of [") {
		t.Errorf("history without flags printed:\n%s", out)
	}
}

// pagedClient serves ListRevisions from fixed pages (page i+1 for token
// "i+1"), recording the requests; every other call panics.
type pagedClient struct {
	duckgridv1.GridServiceClient
	pages [][]*duckgridv1.Revision
	reqs  []*duckgridv1.ListRevisionsRequest
}

func (p *pagedClient) ListRevisions(_ context.Context, req *duckgridv1.ListRevisionsRequest, _ ...grpc.CallOption) (*duckgridv1.ListRevisionsResponse, error) {
	p.reqs = append(p.reqs, req)
	i := 0
	if req.GetPageToken() != "" {
		i, _ = strconv.Atoi(req.GetPageToken())
	}
	resp := &duckgridv1.ListRevisionsResponse{Revisions: p.pages[i]}
	if i+1 < len(p.pages) {
		resp.NextPageToken = strconv.Itoa(i + 1)
	}
	return resp, nil
}

// TestCellHistoryPaging: empty pages with a token are followed, Limit stops
// early (and bounds the page size), and an entry without the cell is an error.
func TestCellHistoryPaging(t *testing.T) {
	cell := duckgrid.Cell("sheets/s", []string{"A", "B"}, "2024-01", "quantity")
	rev := func(n int64, before, after string) *duckgridv1.Revision {
		return &duckgridv1.Revision{Change: &duckgridv1.ChangeEvent{Revision: n, Actor: "a", Changes: []*duckgridv1.SheetChanges{{
			Sheet: "sheets/s", Cells: []*duckgridv1.CellChange{{RowPath: []string{"A", "B"}, Column: "2024-01", Measure: "quantity", PreviousValue: before, Value: after}},
		}}}}
	}
	pages := [][]*duckgridv1.Revision{{rev(9, "2", "3")}, {}, {}, {rev(5, "1", "2"), rev(2, "", "1")}}
	p := &pagedClient{pages: pages}
	h, err := duckgrid.CellHistory(context.Background(), p, cell, duckgrid.HistoryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := []duckgrid.HistoryEntry{{Revision: 9, Actor: "a", Before: "2", After: "3"}, {Revision: 5, Actor: "a", Before: "1", After: "2"}, {Revision: 2, Actor: "a", After: "1"}}
	if !slices.Equal(h, want) || len(p.reqs) != 4 || !proto.Equal(p.reqs[0].GetCell(), cell) || p.reqs[0].GetPageSize() != 0 {
		t.Errorf("CellHistory = %+v after %d calls (first %v), want %+v after 4", h, len(p.reqs), p.reqs[0], want)
	}

	p = &pagedClient{pages: pages}
	if h, err = duckgrid.CellHistory(context.Background(), p, cell, duckgrid.HistoryOptions{Limit: 2, PageSize: 100}); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(h, want[:2]) || len(p.reqs) != 4 || p.reqs[0].GetPageSize() != 2 {
		t.Errorf("CellHistory(Limit 2) = %+v after %d calls (page size %d)", h, len(p.reqs), p.reqs[0].GetPageSize())
	}

	other := rev(7, "", "1")
	other.Change.Changes[0].Cells[0].Column = "2024-02"
	p = &pagedClient{pages: [][]*duckgridv1.Revision{{other}}}
	if _, err := duckgrid.CellHistory(context.Background(), p, cell, duckgrid.HistoryOptions{}); err == nil {
		t.Error("CellHistory of a revision without the cell: no error")
	}
}

func TestConflictingRevisions(t *testing.T) {
	st, err := status.New(codes.Aborted, "conflict").WithDetails(&errdetails.ErrorInfo{
		Domain: duckgrid.ErrorDomain, Reason: duckgrid.ReasonRevisionConflict,
		Metadata: map[string]string{"conflicting_revisions": "12,15", "revision": "9"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if got, ok := duckgrid.ConflictingRevisions(st.Err()); !ok || !slices.Equal(got, []int64{12, 15}) {
		t.Errorf("ConflictingRevisions = %v, %v; want [12 15]", got, ok)
	}
	if _, ok := duckgrid.ConflictingRevisions(status.Error(codes.Aborted, "no details")); ok {
		t.Error("ConflictingRevisions of an error without ErrorInfo: ok")
	}
}
