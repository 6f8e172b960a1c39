package duckgrid_test

import (
	"errors"
	"testing"

	"github.com/duckgrid/duckgrid/clients/go/duckgrid"
	"github.com/duckgrid/duckgrid/clients/go/duckgridv1"
)

func sampleGrid() *duckgridv1.Grid {
	mv := func(m string, vs ...string) *duckgridv1.MeasureValues {
		return &duckgridv1.MeasureValues{Measure: m, Values: vs}
	}
	return &duckgridv1.Grid{
		Sheet: "sheets/s", Revision: 4, Columns: []string{"2024-01", "total"},
		Rows: []*duckgridv1.Row{
			{Path: nil, Measures: []*duckgridv1.MeasureValues{mv("quantity", "3", "3")}},
			{Path: []string{"A"}, Leaf: true, Measures: []*duckgridv1.MeasureValues{mv("quantity", "3", "3")}},
			{Path: []string{"B"}, Leaf: true, Measures: []*duckgridv1.MeasureValues{mv("quantity", "", "")}},
		},
	}
}

func TestLocalGridAppliesChangesInOrder(t *testing.T) {
	l := duckgrid.NewLocalGrid(sampleGrid())
	if v, ok := l.Value([]string{"B"}, "total", "quantity"); !ok || v != "" {
		t.Fatalf("empty cell = %q, %v", v, ok)
	}
	ev := &duckgridv1.ChangeEvent{Revision: 5, Changes: []*duckgridv1.SheetChanges{
		{Sheet: "sheets/other", Cells: []*duckgridv1.CellChange{{RowPath: []string{"A"}, Column: "total", Measure: "quantity", Value: "99"}}},
		{Sheet: "sheets/s", Cells: []*duckgridv1.CellChange{
			{RowPath: []string{"A"}, Column: "2024-01", Measure: "quantity", Value: "5"},
			{RowPath: []string{"A"}, Column: "total", Measure: "quantity", Value: "5"},
			{RowPath: nil, Column: "2024-01", Measure: "quantity", Value: "5"},
			{RowPath: []string{}, Column: "total", Measure: "quantity", Value: "5"},
		}},
	}}
	n, err := l.Apply(ev)
	if err != nil || n != 4 || l.Revision != 5 {
		t.Fatalf("Apply = %d, %v; revision %d", n, err, l.Revision)
	}
	for _, p := range [][]string{nil, {"A"}} {
		for _, c := range []string{"2024-01", "total"} {
			if v, _ := l.Value(p, c, "quantity"); v != "5" {
				t.Errorf("%q %s = %q, want 5", p, c, v)
			}
		}
	}
	// Replays and gaps are refused and change nothing.
	var re *duckgrid.RevisionError
	if _, err := l.Apply(ev); !errors.As(err, &re) {
		t.Errorf("replayed revision: %v", err)
	}
	if _, err := l.Apply(&duckgridv1.ChangeEvent{Revision: 7}); !errors.As(err, &re) || re.Have != 5 || re.Got != 7 {
		t.Errorf("gap: %v", err)
	}
	other := duckgrid.NewLocalGrid(sampleGrid())
	if d := l.Diff(other, 10); len(d) != 4 {
		t.Errorf("Diff = %v, want 4 differences", d)
	}
	if d := l.Diff(l, 10); len(d) != 0 {
		t.Errorf("Diff with itself = %v", d)
	}
}

func TestParsePath(t *testing.T) {
	if p := duckgrid.ParsePath(""); len(p) != 0 {
		t.Errorf("ParsePath(\"\") = %q", p)
	}
	if got := duckgrid.FormatPath(duckgrid.ParsePath("A/B b/C")); got != "A/B b/C" {
		t.Errorf("round trip = %q", got)
	}
}
