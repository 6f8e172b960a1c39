package duckgrid_test

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"regexp"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/duckgrid/duckgrid/clients/go/duckgrid"
	"github.com/duckgrid/duckgrid/clients/go/duckgridv1"
)

func TestListSheets(t *testing.T) {
	c, ctx := client(t), testCtx(t)
	resp, err := c.ListSheets(ctx, &duckgridv1.ListSheetsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	sheets := map[string]*duckgridv1.Sheet{}
	for _, s := range resp.GetSheets() {
		sheets[s.GetName()] = s
	}
	wantLevels := map[string][]string{
		productSheet: {"supplier", "brand", "family"},
		regionSheet:  {"province", "city"},
	}
	for name, levels := range wantLevels {
		s := sheets[name]
		if s == nil {
			t.Fatalf("ListSheets has no %s: %v", name, resp)
		}
		var got []string
		for _, l := range s.GetRowLevels() {
			got = append(got, l.GetName())
			if l.GetMemberCount() <= 0 {
				t.Errorf("%s level %s: member_count %d", name, l.GetName(), l.GetMemberCount())
			}
		}
		if fmt.Sprint(got) != fmt.Sprint(levels) {
			t.Errorf("%s row levels = %v, want %v", name, got, levels)
		}
		cols := s.GetColumns()
		if len(cols) != 25 || cols[0].GetKey() != "2024-01" || cols[23].GetKey() != "2025-12" ||
			cols[24].GetKey() != duckgrid.TotalColumn || !cols[24].GetTotal() || cols[0].GetTotal() {
			t.Errorf("%s columns = %v", name, cols)
		}
		if cols[2].GetPeriodStart() != "2024-03-01" || cols[2].GetPeriodEnd() != "2024-04-01" {
			t.Errorf("%s column 2024-03 period = %s..%s", name, cols[2].GetPeriodStart(), cols[2].GetPeriodEnd())
		}
		ms := map[string]*duckgridv1.Measure{}
		for _, m := range s.GetMeasures() {
			ms[m.GetName()] = m
		}
		if q := ms["quantity"]; q == nil || q.GetScale() != 0 || q.GetMinValue() != "0" {
			t.Errorf("%s quantity measure = %v", name, q)
		}
		if a := ms["net_amount"]; a == nil || a.GetScale() != 2 {
			t.Errorf("%s net_amount measure = %v", name, a)
		}
		if s.GetRowCount() <= 1 {
			t.Errorf("%s row_count = %d", name, s.GetRowCount())
		}
	}

	// Paging: one sheet per page, all of them in model order.
	var paged []string
	token := ""
	for i := 0; i < 10; i++ {
		page, err := c.ListSheets(ctx, &duckgridv1.ListSheetsRequest{PageSize: 1, PageToken: token})
		if err != nil {
			t.Fatal(err)
		}
		if len(page.GetSheets()) != 1 {
			t.Fatalf("page_size 1 returned %d sheets", len(page.GetSheets()))
		}
		paged = append(paged, page.GetSheets()[0].GetName())
		token = page.GetNextPageToken()
		if token == "" {
			break
		}
	}
	var all []string
	for _, s := range resp.GetSheets() {
		all = append(all, s.GetName())
	}
	if fmt.Sprint(paged) != fmt.Sprint(all) {
		t.Errorf("paged sheets %v, want %v", paged, all)
	}
}

func TestGetSheet(t *testing.T) {
	c, ctx := client(t), testCtx(t)
	sheets, err := c.ListSheets(ctx, &duckgridv1.ListSheetsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for _, sheet := range sheets.GetSheets() {
		g := getGrid(t, ctx, c, &duckgridv1.GetSheetRequest{Name: sheet.GetName()})
		checkGrid(t, sheet, g)
	}

	// Narrowed to a subtree, two columns and one measure.
	full := getGrid(t, ctx, c, &duckgridv1.GetSheetRequest{Name: productSheet})
	leaf, err := duckgrid.FirstLeaf(full)
	if err != nil {
		t.Fatal(err)
	}
	top := leaf.GetPath()[:1]
	narrow := getGrid(t, ctx, c, &duckgridv1.GetSheetRequest{
		Name: productSheet, RowPath: top, Columns: []string{"2024-03", "total"}, Measures: []string{"quantity"},
	})
	if fmt.Sprint(narrow.GetColumns()) != "[2024-03 total]" {
		t.Errorf("narrowed columns = %v", narrow.GetColumns())
	}
	fix := newIndex(full)
	if len(narrow.GetRows()) == 0 || !equalPath(narrow.GetRows()[0].GetPath(), top) {
		t.Fatalf("narrowed grid should start with %q", top)
	}
	for _, r := range narrow.GetRows() {
		if !equalPath(r.GetPath()[:1], top) {
			t.Errorf("row %q outside %q", r.GetPath(), top)
		}
		if len(r.GetMeasures()) != 1 || r.GetMeasures()[0].GetMeasure() != "quantity" {
			t.Fatalf("row %q measures = %v", r.GetPath(), r.GetMeasures())
		}
		for i, col := range narrow.GetColumns() {
			if narrow.GetRevision() == full.GetRevision() {
				if got, want := r.GetMeasures()[0].GetValues()[i], fix.value(t, r.GetPath(), col, "quantity"); got != want {
					t.Errorf("narrowed %q %s = %q, full grid says %q", r.GetPath(), col, got, want)
				}
			}
		}
	}

	_, err = c.GetSheet(ctx, &duckgridv1.GetSheetRequest{Name: "sheets/no_such_sheet"})
	if status.Code(err) != codes.NotFound {
		t.Errorf("GetSheet(unknown sheet) = %v, want NOT_FOUND", err)
	}
}

// checkGrid verifies a full grid's shape and that every aggregate is the sum
// of its children and every row's total the sum of its months.
func checkGrid(t *testing.T, sheet *duckgridv1.Sheet, g *duckgridv1.Grid) {
	t.Helper()
	name := sheet.GetName()
	if g.GetSheet() != name {
		t.Errorf("grid.sheet = %q, want %q", g.GetSheet(), name)
	}
	var keys []string
	for _, col := range sheet.GetColumns() {
		keys = append(keys, col.GetKey())
	}
	if fmt.Sprint(g.GetColumns()) != fmt.Sprint(keys) {
		t.Fatalf("%s grid columns %v, want %v", name, g.GetColumns(), keys)
	}
	if int64(len(g.GetRows())) != sheet.GetRowCount() {
		t.Errorf("%s: %d rows, sheet.row_count says %d", name, len(g.GetRows()), sheet.GetRowCount())
	}
	if len(g.GetRows()) == 0 || len(g.GetRows()[0].GetPath()) != 0 {
		t.Fatalf("%s: first row is not the grand total", name)
	}
	depth := len(sheet.GetRowLevels())
	scales := map[string]int{}
	for _, m := range sheet.GetMeasures() {
		scales[m.GetName()] = int(m.GetScale())
	}
	ix := newIndex(g)
	seen := map[string]bool{}
	for _, r := range g.GetRows() {
		p := r.GetPath()
		if r.GetLeaf() != (len(p) == depth) {
			t.Errorf("%s row %q: leaf=%v at depth %d of %d", name, p, r.GetLeaf(), len(p), depth)
		}
		if len(p) > 0 && !seen[fmt.Sprint(p[:len(p)-1])] {
			t.Errorf("%s row %q comes before its parent", name, p)
		}
		seen[fmt.Sprint(p)] = true
		if len(r.GetMeasures()) != len(sheet.GetMeasures()) {
			t.Fatalf("%s row %q has %d measures", name, p, len(r.GetMeasures()))
		}
		for _, mv := range r.GetMeasures() {
			scale := scales[mv.GetMeasure()]
			valueRe := regexp.MustCompile(`^-?\d+$`)
			if scale > 0 {
				valueRe = regexp.MustCompile(fmt.Sprintf(`^-?\d+\.\d{%d}$`, scale))
			}
			if len(mv.GetValues()) != len(keys) {
				t.Fatalf("%s row %q %s: %d values for %d columns", name, p, mv.GetMeasure(), len(mv.GetValues()), len(keys))
			}
			monthSum := new(big.Rat)
			for i, v := range mv.GetValues() {
				if v != "" && !valueRe.MatchString(v) {
					t.Errorf("%s row %q %s %s: %q is not a decimal with scale %d", name, p, mv.GetMeasure(), keys[i], v, scale)
				}
				if i < len(keys)-1 {
					monthSum = add(monthSum, dec(t, v))
				}
			}
			if total := mv.GetValues()[len(keys)-1]; dec(t, total).Cmp(monthSum) != 0 {
				t.Errorf("%s row %q %s: total %s != sum of months %s", name, p, mv.GetMeasure(), total, format(monthSum, scale))
			}
			if r.GetLeaf() {
				continue
			}
			kids := ix.children(p)
			for i, col := range keys {
				sum, allEmpty := new(big.Rat), true
				for _, k := range kids {
					v := ix.value(t, k, col, mv.GetMeasure())
					allEmpty = allEmpty && v == ""
					sum = add(sum, dec(t, v))
				}
				v := mv.GetValues()[i]
				if dec(t, v).Cmp(sum) != 0 || (v == "") != allEmpty {
					t.Errorf("%s row %q %s %s = %q, children sum to %s (all empty: %v)",
						name, p, mv.GetMeasure(), col, v, format(sum, scale), allEmpty)
				}
			}
		}
	}
}

func TestUpdateLeaf(t *testing.T) {
	c, ctx := client(t), testCtx(t)
	before := getGrid(t, ctx, c, &duckgridv1.GetSheetRequest{Name: productSheet})
	regionBefore := getGrid(t, ctx, c, &duckgridv1.GetSheetRequest{Name: regionSheet})
	leaf, err := duckgrid.FirstLeaf(before)
	if err != nil {
		t.Fatal(err)
	}
	path, col, m := leaf.GetPath(), "2024-03", "net_amount"
	bix := newIndex(before)
	old := bix.value(t, path, col, m)
	v := "4321.09"
	if old == v {
		v = "4321.10"
	}
	delta := sub(dec(t, v), dec(t, old))

	resp, err := c.UpdateCell(duckgrid.WithActor(ctx, "go-test"), &duckgridv1.UpdateCellRequest{
		Edit: &duckgridv1.CellEdit{Cell: duckgrid.Cell(productSheet, path, col, m), Value: v},
	})
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetRevision() != before.GetRevision()+1 {
		t.Errorf("revision = %d, want %d", resp.GetRevision(), before.GetRevision()+1)
	}
	if r := resp.GetResult(); r.GetNewValue() != v || r.GetPreviousValue() != old || r.GetFactsChanged() <= 0 {
		t.Errorf("result = %v, want previous %q new %q", r, old, v)
	}
	changed := map[string]string{}
	for _, sc := range resp.GetChanges() {
		for _, cell := range sc.GetCells() {
			changed[fmt.Sprint(sc.GetSheet(), cell.GetRowPath(), cell.GetColumn(), cell.GetMeasure())] = cell.GetValue()
		}
	}
	if got := changed[fmt.Sprint(productSheet, path, col, m)]; got != v {
		t.Errorf("changes: leaf cell = %q, want %q", got, v)
	}
	if _, ok := changed[fmt.Sprint(regionSheet, []string{}, col, m)]; !ok {
		t.Errorf("changes carry no %s grand total for %s %s: one edit changes every sheet", regionSheet, col, m)
	}

	after := getGrid(t, ctx, c, &duckgridv1.GetSheetRequest{Name: productSheet})
	aix := newIndex(after)
	if got := aix.value(t, path, col, m); got != v {
		t.Errorf("after: leaf = %q, want %q", got, v)
	}
	// Every ancestor (and its total column) moved by exactly delta.
	for depth := len(path); depth >= 0; depth-- {
		for _, cc := range []string{col, duckgrid.TotalColumn} {
			want := add(dec(t, bix.value(t, path[:depth], cc, m)), delta)
			if got := aix.value(t, path[:depth], cc, m); dec(t, got).Cmp(want) != 0 {
				t.Errorf("after: %q %s = %s, want %s", path[:depth], cc, got, format(want, 2))
			}
		}
		if got, want := changed[fmt.Sprint(productSheet, path[:depth], col, m)], aix.value(t, path[:depth], col, m); got != want {
			t.Errorf("changes: %q %s = %q, GetSheet says %q", path[:depth], col, got, want)
		}
	}
	// The region sheet sees the same facts: its grand total moved too, and
	// both grand totals agree on every cell.
	regionAfter := getGrid(t, ctx, c, &duckgridv1.GetSheetRequest{Name: regionSheet})
	rb, ra := newIndex(regionBefore), newIndex(regionAfter)
	if got, want := dec(t, ra.value(t, nil, col, m)), add(dec(t, rb.value(t, nil, col, m)), delta); got.Cmp(want) != 0 {
		t.Errorf("region grand total %s = %s, want %s", col, got.FloatString(2), want.FloatString(2))
	}
	if !proto.Equal(regionAfter.GetRows()[0], after.GetRows()[0]) {
		t.Errorf("grand totals differ between sheets:\n%v\n%v", regionAfter.GetRows()[0], after.GetRows()[0])
	}
}

// spreadTarget finds, for a measure, the first row just above the leaves and
// the first month where at least two children hold non-zero values.
func spreadTarget(t *testing.T, g *duckgridv1.Grid, depth int, m string) ([]string, string) {
	t.Helper()
	ix := newIndex(g)
	for _, r := range g.GetRows() {
		if len(r.GetPath()) != depth-1 {
			continue
		}
		for _, col := range g.GetColumns()[:len(g.GetColumns())-1] {
			nonZero := 0
			for _, k := range ix.children(r.GetPath()) {
				if dec(t, ix.value(t, k, col, m)).Sign() != 0 {
					nonZero++
				}
			}
			if nonZero >= 2 {
				return r.GetPath(), col
			}
		}
	}
	t.Fatalf("no subtotal with two non-zero children for %s", m)
	return nil, ""
}

func TestUpdateSubtotalSpreadsProportionally(t *testing.T) {
	c, ctx := client(t), testCtx(t)
	edit := func(cell *duckgridv1.CellRef, v string) *duckgridv1.UpdateCellResponse {
		t.Helper()
		resp, err := c.UpdateCell(duckgrid.WithActor(ctx, "go-test"), &duckgridv1.UpdateCellRequest{
			Edit: &duckgridv1.CellEdit{Cell: cell, Value: v},
		})
		if err != nil {
			t.Fatalf("UpdateCell(%v, %s): %v", cell, v, err)
		}
		if resp.GetResult().GetNewValue() != v {
			t.Errorf("new_value = %q, want %q", resp.GetResult().GetNewValue(), v)
		}
		return resp
	}

	// quantity: doubling is exact, so every child must double exactly.
	before := getGrid(t, ctx, c, &duckgridv1.GetSheetRequest{Name: productSheet})
	parent, col := spreadTarget(t, before, 3, "quantity")
	bix := newIndex(before)
	old := dec(t, bix.value(t, parent, col, "quantity"))
	v := format(mul(old, big.NewRat(2, 1)), 0)
	edit(duckgrid.Cell(productSheet, parent, col, "quantity"), v)
	aix := newIndex(getGrid(t, ctx, c, &duckgridv1.GetSheetRequest{Name: productSheet}))
	if got := aix.value(t, parent, col, "quantity"); got != v {
		t.Errorf("subtotal %q %s quantity = %q, want %q", parent, col, got, v)
	}
	sum := new(big.Rat)
	for _, k := range bix.children(parent) {
		b, a := dec(t, bix.value(t, k, col, "quantity")), dec(t, aix.value(t, k, col, "quantity"))
		sum = add(sum, a)
		if want := mul(b, big.NewRat(2, 1)); a.Cmp(want) != 0 {
			t.Errorf("child %q: %s -> %s, want exactly %s", k, b.FloatString(0), a.FloatString(0), want.FloatString(0))
		}
	}
	if sum.Cmp(dec(t, v)) != 0 {
		t.Errorf("children sum to %s, want %s", sum.FloatString(0), v)
	}

	// net_amount: an awkward factor; the subtotal becomes exactly V, the
	// children sum to exactly V and each keeps its share within rounding.
	before = getGrid(t, ctx, c, &duckgridv1.GetSheetRequest{Name: productSheet})
	parent, col = spreadTarget(t, before, 3, "net_amount")
	bix = newIndex(before)
	old = dec(t, bix.value(t, parent, col, "net_amount"))
	target := add(mul(old, big.NewRat(137, 100)), big.NewRat(1, 100))
	v = format(target, 2)
	target = dec(t, v)
	resp := edit(duckgrid.Cell(productSheet, parent, col, "net_amount"), v)
	aix = newIndex(getGrid(t, ctx, c, &duckgridv1.GetSheetRequest{Name: productSheet}))
	if got := aix.value(t, parent, col, "net_amount"); got != v {
		t.Errorf("subtotal %q %s net_amount = %q, want %q", parent, col, got, v)
	}
	// Each fact is rounded by less than one unit of 0.01, so a child is off
	// its exact share by less than (its facts) x 0.01 <= facts_changed x 0.01.
	tol := mul(ulp(2), big.NewRat(max(resp.GetResult().GetFactsChanged(), 1), 1))
	sum = new(big.Rat)
	for _, k := range bix.children(parent) {
		b, a := dec(t, bix.value(t, k, col, "net_amount")), dec(t, aix.value(t, k, col, "net_amount"))
		sum = add(sum, a)
		exact := new(big.Rat).Quo(mul(b, target), old)
		if diff := new(big.Rat).Abs(sub(a, exact)); diff.Cmp(tol) > 0 {
			t.Errorf("child %q: %s -> %s, exact share %s (tolerance %s)", k, b.FloatString(2), a.FloatString(2), exact.FloatString(4), tol.FloatString(2))
		}
		if b.Sign() == 0 && a.Sign() != 0 {
			t.Errorf("child %q was zero and became %s: zero facts stay zero", k, a.FloatString(2))
		}
	}
	if sum.Cmp(target) != 0 {
		t.Errorf("children sum to %s, want exactly %s", sum.FloatString(2), v)
	}
	wantTotal := add(dec(t, bix.value(t, parent, duckgrid.TotalColumn, "net_amount")), sub(target, old))
	if got := aix.value(t, parent, duckgrid.TotalColumn, "net_amount"); dec(t, got).Cmp(wantTotal) != 0 {
		t.Errorf("subtotal total column = %s, want %s", got, wantTotal.FloatString(2))
	}
}

func TestCompareAndSetConflict(t *testing.T) {
	c, ctx := client(t), testCtx(t)
	before := getGrid(t, ctx, c, &duckgridv1.GetSheetRequest{Name: productSheet})
	leaf, err := duckgrid.FirstLeaf(before)
	if err != nil {
		t.Fatal(err)
	}
	cell := duckgrid.Cell(productSheet, leaf.GetPath(), "2024-05", "quantity")
	cur := newIndex(before).value(t, cell.GetRowPath(), cell.GetColumn(), cell.GetMeasure())
	wrong := format(add(dec(t, cur), big.NewRat(1, 1)), 0)
	next := format(add(dec(t, cur), big.NewRat(5, 1)), 0)

	_, err = c.UpdateCell(duckgrid.WithActor(ctx, "go-test"), &duckgridv1.UpdateCellRequest{
		Edit: &duckgridv1.CellEdit{Cell: cell, Value: next, ExpectedValue: proto.String(wrong)},
	})
	if status.Code(err) != codes.Aborted {
		t.Fatalf("UpdateCell with a stale expected_value = %v, want ABORTED", err)
	}
	info, ok := duckgrid.ErrorInfo(err)
	if !ok {
		t.Fatalf("ABORTED without google.rpc.ErrorInfo in grpc-status-details-bin: %v", err)
	}
	if info.GetReason() != duckgrid.ReasonExpectedValueMismatch || info.GetDomain() != duckgrid.ErrorDomain {
		t.Errorf("ErrorInfo = %v", info)
	}
	if got, ok := duckgrid.CurrentValue(err); !ok || got != cur {
		t.Errorf("current_value = %q (%v), want %q", got, ok, cur)
	}
	after := getGrid(t, ctx, c, &duckgridv1.GetSheetRequest{Name: productSheet})
	if after.GetRevision() != before.GetRevision() {
		t.Errorf("a rejected write committed a revision: %d -> %d", before.GetRevision(), after.GetRevision())
	}

	resp, err := c.UpdateCell(duckgrid.WithActor(ctx, "go-test"), &duckgridv1.UpdateCellRequest{
		Edit: &duckgridv1.CellEdit{Cell: cell, Value: next, ExpectedValue: proto.String(cur)},
	})
	if err != nil {
		t.Fatalf("UpdateCell with the right expected_value: %v", err)
	}
	if resp.GetResult().GetNewValue() != next {
		t.Errorf("new_value = %q, want %q", resp.GetResult().GetNewValue(), next)
	}
}

// recvChange reads the stream up to the next change event, skipping progress.
func recvChange(t *testing.T, s duckgridv1.GridService_WatchUpdatesClient) *duckgridv1.ChangeEvent {
	t.Helper()
	for {
		msg, err := s.Recv()
		if err != nil {
			t.Fatalf("WatchUpdates: %v", err)
		}
		switch k := msg.GetKind().(type) {
		case *duckgridv1.WatchUpdatesResponse_Change:
			return k.Change
		case *duckgridv1.WatchUpdatesResponse_Snapshot:
			t.Fatalf("unexpected snapshot at revision %d", k.Snapshot.GetRevision())
		}
	}
}

func TestWatchSnapshotChangesAndResume(t *testing.T) {
	c, ctx := client(t), testCtx(t)
	g := getGrid(t, ctx, c, &duckgridv1.GetSheetRequest{Name: productSheet})
	leaf, err := duckgrid.FirstLeaf(g)
	if err != nil {
		t.Fatal(err)
	}
	update := func(col, v string) int64 {
		t.Helper()
		resp, err := c.UpdateCell(duckgrid.WithActor(ctx, "go-watch"), &duckgridv1.UpdateCellRequest{
			Edit: &duckgridv1.CellEdit{Cell: duckgrid.Cell(productSheet, leaf.GetPath(), col, "quantity"), Value: v},
		})
		if err != nil {
			t.Fatal(err)
		}
		return resp.GetRevision()
	}

	streamCtx, drop := context.WithCancel(ctx)
	stream, err := c.WatchUpdates(streamCtx, &duckgridv1.WatchUpdatesRequest{Sheet: productSheet, SendSnapshot: true})
	if err != nil {
		t.Fatal(err)
	}
	first, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	snap := first.GetSnapshot()
	if snap == nil {
		t.Fatalf("first message is not a snapshot: %v", first)
	}
	local := duckgrid.NewLocalGrid(snap)
	if now := getGrid(t, ctx, c, &duckgridv1.GetSheetRequest{Name: productSheet}); now.GetRevision() == snap.GetRevision() {
		if d := local.Diff(duckgrid.NewLocalGrid(now), 5); len(d) > 0 {
			t.Errorf("snapshot differs from GetSheet at the same revision: %v", d)
		}
	}

	r1 := update("2024-06", "11")
	ev := recvChange(t, stream)
	if ev.GetRevision() != snap.GetRevision()+1 || ev.GetRevision() != r1 {
		t.Fatalf("first change is revision %d, want %d (snapshot %d + 1)", ev.GetRevision(), r1, snap.GetRevision())
	}
	if ev.GetActor() != "go-watch" {
		t.Errorf("actor = %q, want go-watch", ev.GetActor())
	}
	if len(ev.GetEdits()) != 1 || ev.GetEdits()[0].GetValue() != "11" || len(ev.GetResults()) != 1 {
		t.Errorf("event edits/results = %v / %v", ev.GetEdits(), ev.GetResults())
	}
	if _, err := local.Apply(ev); err != nil {
		t.Fatal(err)
	}
	if v, _ := local.Value(leaf.GetPath(), "2024-06", "quantity"); v != "11" {
		t.Errorf("local copy after change: %q, want 11", v)
	}

	// Drop the stream; two writes happen while nobody watches.
	drop()
	r2 := update("2024-07", "12")
	r3 := update("2024-08", "13")
	if r2 != r1+1 || r3 != r2+1 {
		t.Fatalf("revisions %d, %d, %d are not consecutive", r1, r2, r3)
	}

	stream, err = c.WatchUpdates(ctx, &duckgridv1.WatchUpdatesRequest{Sheet: productSheet, StartRevision: r1 + 1})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []int64{r2, r3} {
		ev := recvChange(t, stream)
		if ev.GetRevision() != want {
			t.Fatalf("resumed stream delivered revision %d, want %d", ev.GetRevision(), want)
		}
		if _, err := local.Apply(ev); err != nil {
			t.Fatal(err)
		}
	}
	// Nothing else is pending: the next message is a heartbeat at head r3.
	for {
		msg, err := stream.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if ch := msg.GetChange(); ch != nil {
			t.Fatalf("unexpected extra change at revision %d", ch.GetRevision())
		}
		if p := msg.GetProgress(); p != nil {
			if p.GetHeadRevision() != r3 {
				t.Errorf("progress head = %d, want %d", p.GetHeadRevision(), r3)
			}
			break
		}
	}
	now := getGrid(t, ctx, c, &duckgridv1.GetSheetRequest{Name: productSheet})
	if now.GetRevision() != r3 {
		t.Fatalf("head moved to %d during the test", now.GetRevision())
	}
	if d := local.Diff(duckgrid.NewLocalGrid(now), 5); len(d) > 0 {
		t.Errorf("local copy differs from GetSheet: %v", d)
	}
}

func TestWatcherKeepsLocalCopyAcrossDrops(t *testing.T) {
	c, ctx := client(t), testCtx(t)
	g := getGrid(t, ctx, c, &duckgridv1.GetSheetRequest{Name: productSheet})
	leaf, err := duckgrid.FirstLeaf(g)
	if err != nil {
		t.Fatal(err)
	}
	update := func(cell *duckgridv1.CellRef, v string) int64 {
		t.Helper()
		resp, err := c.UpdateCell(duckgrid.WithActor(ctx, "go-watcher"), &duckgridv1.UpdateCellRequest{
			Edit: &duckgridv1.CellEdit{Cell: cell, Value: v},
		})
		if err != nil {
			t.Fatal(err)
		}
		return resp.GetRevision()
	}

	w := &duckgrid.Watcher{Client: c, Sheet: productSheet, MinBackoff: 20 * time.Millisecond}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- w.Run(runCtx, nil) }()
	waitFor(t, "the snapshot", 20*time.Second, func() bool { return w.Revision() >= 0 })

	rA := update(duckgrid.Cell(productSheet, leaf.GetPath(), "2025-01", "net_amount"), "100.00")
	waitFor(t, "revision A", 20*time.Second, func() bool { return w.Revision() >= rA })
	if v, _ := w.Value(leaf.GetPath(), "2025-01", "net_amount"); v != "100.00" {
		t.Errorf("watched leaf = %q, want 100.00", v)
	}

	w.DropStream()
	update(duckgrid.Cell(productSheet, leaf.GetPath()[:1], "2025-02", "net_amount"), "5000.00")
	rC := update(duckgrid.Cell(productSheet, nil, "2025-03", "quantity"), "9000")
	waitFor(t, "revision C", 20*time.Second, func() bool { return w.Revision() >= rC })
	now := getGrid(t, ctx, c, &duckgridv1.GetSheetRequest{Name: productSheet})
	if d := w.Diff(now, 5); len(d) > 0 {
		t.Errorf("watched copy differs from GetSheet at %d: %v", now.GetRevision(), d)
	}
	if w.Reconnects() < 1 {
		t.Errorf("watcher did not reconnect after DropStream")
	}
	stop()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("Run returned %v, want context.Canceled", err)
	}
}
