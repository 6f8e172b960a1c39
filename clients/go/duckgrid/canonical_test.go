package duckgrid_test

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/duckgrid/duckgrid/clients/go/duckgrid"
	"github.com/duckgrid/duckgrid/clients/go/duckgridv1"
	"github.com/duckgrid/duckgrid/clients/go/internal/testserver"
)

// TestCanonicalEditScript applies the edit script shared by the three client
// suites (see clients/README.md, "Cross-client check") to a fresh server
// (seed 7, 5000 facts) and writes the canonical dump to
// $DUCKGRID_CANONICAL_OUT; scripts/test-clients.sh diffs the three dumps.
func TestCanonicalEditScript(t *testing.T) {
	srv, err := testserver.Start(testSeed, testFacts)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := srv.Stop(); err != nil {
			t.Error(err)
		}
	}()
	conn, err := duckgrid.Dial(srv.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	c := duckgridv1.NewGridServiceClient(conn)
	ctx := duckgrid.WithActor(testCtx(t), "canonical")

	const C, R = productSheet, regionSheet
	cLeaf, err := duckgrid.FirstLeaf(getGrid(t, ctx, c, &duckgridv1.GetSheetRequest{Name: C}))
	if err != nil {
		t.Fatal(err)
	}
	rLeaf, err := duckgrid.FirstLeaf(getGrid(t, ctx, c, &duckgridv1.GetSheetRequest{Name: R}))
	if err != nil {
		t.Fatal(err)
	}
	leaf := cLeaf.GetPath()
	parent, top := leaf[:len(leaf)-1], leaf[:1]
	edit := func(sheet string, path []string, col, m, v string, mode duckgridv1.UpdateMode, spread duckgridv1.SpreadMethod) *duckgridv1.CellEdit {
		return &duckgridv1.CellEdit{Cell: duckgrid.Cell(sheet, path, col, m), Value: v, Mode: mode, Spread: spread}
	}
	const (
		set, addMode, pct = duckgridv1.UpdateMode_UPDATE_MODE_SET, duckgridv1.UpdateMode_UPDATE_MODE_ADD, duckgridv1.UpdateMode_UPDATE_MODE_PERCENT
		prop, equal       = duckgridv1.SpreadMethod_SPREAD_METHOD_UNSPECIFIED, duckgridv1.SpreadMethod_SPREAD_METHOD_EQUAL
	)
	steps := [][]*duckgridv1.CellEdit{
		{edit(C, leaf, "2024-01", "net_amount", "1234.56", set, prop)},
		{edit(C, parent, "2024-02", "quantity", "1000", set, prop)},
		{edit(C, parent, "total", "net_amount", "99999.99", set, prop)},
		{edit(C, top, "2025-06", "quantity", "7", addMode, prop)},
		{edit(C, nil, "2024-12", "net_amount", "10", pct, prop)},
		{edit(R, rLeaf.GetPath(), "2025-01", "quantity", "42", set, prop)},
		{edit(C, parent, "2024-05", "net_amount", "777.77", set, equal)},
		{edit(C, parent, "2024-04", "net_amount", "500.00", set, prop), edit(C, leaf, "2024-04", "quantity", "3", set, prop)},
	}

	var lines [][]any
	for i, edits := range steps {
		var rev int64
		var results []*duckgridv1.EditResult
		if len(edits) == 1 {
			resp, err := c.UpdateCell(ctx, &duckgridv1.UpdateCellRequest{Edit: edits[0]})
			if err != nil {
				t.Fatalf("step %d: UpdateCell: %v", i+1, err)
			}
			rev, results = resp.GetRevision(), []*duckgridv1.EditResult{resp.GetResult()}
		} else {
			resp, err := c.BatchUpdateCells(ctx, &duckgridv1.BatchUpdateCellsRequest{Edits: edits})
			if err != nil {
				t.Fatalf("step %d: BatchUpdateCells: %v", i+1, err)
			}
			rev, results = resp.GetRevision(), resp.GetResults()
		}
		if rev != int64(i+1) {
			t.Errorf("step %d committed as revision %d, want %d on a fresh server", i+1, rev, i+1)
		}
		for _, r := range results {
			lines = append(lines, []any{"edit", i + 1, rev, r.GetPreviousValue(), r.GetNewValue(), r.GetFactsChanged()})
		}
	}
	sheets, err := c.ListSheets(ctx, &duckgridv1.ListSheetsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range sheets.GetSheets() {
		g := getGrid(t, ctx, c, &duckgridv1.GetSheetRequest{Name: s.GetName()})
		lines = append(lines, []any{"sheet", g.GetSheet(), g.GetRevision(), nonNil(g.GetColumns())})
		for _, r := range g.GetRows() {
			for _, mv := range r.GetMeasures() {
				lines = append(lines, []any{"row", g.GetSheet(), mv.GetMeasure(), nonNil(r.GetPath()), r.GetLeaf(), nonNil(mv.GetValues())})
			}
		}
	}

	out := os.Getenv("DUCKGRID_CANONICAL_OUT")
	if out == "" {
		out = filepath.Join(t.TempDir(), "canonical-go.jsonl")
	}
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriter(f)
	enc := json.NewEncoder(w) // one compact array per line
	enc.SetEscapeHTML(false)
	for _, l := range lines {
		if err := enc.Encode(l); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	t.Logf("canonical dump: %s (%d lines)", out, len(lines))
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
