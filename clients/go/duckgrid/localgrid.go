package duckgrid

import (
	"fmt"
	"strings"

	"github.com/duckgrid/duckgrid/clients/go/duckgridv1"
)

// pathKey encodes a row path as a map key (member names never hold NUL).
func pathKey(path []string) string { return strings.Join(path, "\x00") }

type cellKey struct {
	row, column, measure string
}

// RevisionError reports a change event that is not the next revision of the
// local copy: the stream skipped or repeated revisions (it promises neither),
// so the copy can no longer be trusted.
type RevisionError struct {
	Have, Got int64
}

func (e *RevisionError) Error() string {
	return fmt.Sprintf("duckgrid: out-of-order change: local copy is at revision %d, received %d (want %d)",
		e.Have, e.Got, e.Have+1)
}

// LocalGrid is a local copy of one sheet's grid: built from a snapshot (or
// GetSheet) and kept current by applying change events. Not safe for
// concurrent use; Watcher serialises access to its copy.
//
// Nothing is assumed about the sheet: any column keys (months, quarter and
// year subtotals, the total), any row depth (ragged hierarchies, a second
// dimension nested under the first), any measures. Row captions come from the
// snapshot (change events carry values only).
type LocalGrid struct {
	// Sheet is the sheet's resource name.
	Sheet string
	// Revision is the last revision applied.
	Revision int64
	// Columns are the column keys in order.
	Columns []string

	rows     [][]string // row paths in order
	rowIndex map[string]int
	measures []string // measure names in first-seen order
	values   map[cellKey]string
	captions map[string]string // row key -> Row.caption, when not empty
}

// NewLocalGrid copies a grid.
func NewLocalGrid(g *duckgridv1.Grid) *LocalGrid {
	l := &LocalGrid{
		Sheet:    g.GetSheet(),
		Revision: g.GetRevision(),
		Columns:  append([]string(nil), g.GetColumns()...),
		rowIndex: map[string]int{},
		values:   map[cellKey]string{},
		captions: map[string]string{},
	}
	seen := map[string]bool{}
	for _, row := range g.GetRows() {
		rk := l.addRow(row.GetPath())
		if c := row.GetCaption(); c != "" {
			l.captions[rk] = c
		}
		for _, mv := range row.GetMeasures() {
			if !seen[mv.GetMeasure()] {
				seen[mv.GetMeasure()] = true
				l.measures = append(l.measures, mv.GetMeasure())
			}
			for i, v := range mv.GetValues() {
				if i < len(l.Columns) {
					l.values[cellKey{rk, l.Columns[i], mv.GetMeasure()}] = v
				}
			}
		}
	}
	return l
}

func (l *LocalGrid) addRow(path []string) string {
	rk := pathKey(path)
	if _, ok := l.rowIndex[rk]; !ok {
		l.rowIndex[rk] = len(l.rows)
		l.rows = append(l.rows, append([]string(nil), path...))
	}
	return rk
}

// Apply applies one change event: the cells of this sheet take their new
// values and Revision becomes the event's. The event must be revision
// Revision+1; anything else is a *RevisionError and changes nothing.
func (l *LocalGrid) Apply(ev *duckgridv1.ChangeEvent) (changed int, err error) {
	if ev.GetRevision() != l.Revision+1 {
		return 0, &RevisionError{Have: l.Revision, Got: ev.GetRevision()}
	}
	for _, sc := range ev.GetChanges() {
		if sc.GetSheet() != l.Sheet {
			continue
		}
		for _, c := range sc.GetCells() {
			rk := l.addRow(c.GetRowPath())
			l.values[cellKey{rk, c.GetColumn(), c.GetMeasure()}] = c.GetValue()
			changed++
		}
	}
	l.Revision = ev.GetRevision()
	return changed, nil
}

// Value returns a cell's value ("" for an empty cell) and whether the local
// copy has that cell.
func (l *LocalGrid) Value(path []string, column, measure string) (string, bool) {
	v, ok := l.values[cellKey{pathKey(path), column, measure}]
	return v, ok
}

// Caption returns a row's caption (Row.caption, such as a member's code);
// "" when it has none.
func (l *LocalGrid) Caption(path []string) string { return l.captions[pathKey(path)] }

// Rows returns the row paths in grid order.
func (l *LocalGrid) Rows() [][]string { return l.rows }

// Measures returns the measure names the copy holds.
func (l *LocalGrid) Measures() []string { return l.measures }

// Len is the number of cells held.
func (l *LocalGrid) Len() int { return len(l.values) }

// Diff lists (at most max) the cells where l and other differ; empty when
// they hold the same values (revisions are not compared).
func (l *LocalGrid) Diff(other *LocalGrid, max int) []string {
	var out []string
	add := func(s string) bool {
		out = append(out, s)
		return len(out) < max
	}
	for k, v := range l.values {
		if w, ok := other.values[k]; !ok || w != v {
			if !add(fmt.Sprintf("%q %s %s: %q vs %q", strings.ReplaceAll(k.row, "\x00", "/"), k.column, k.measure, v, w)) {
				return out
			}
		}
	}
	for k, w := range other.values {
		if _, ok := l.values[k]; !ok {
			if !add(fmt.Sprintf("%q %s %s: missing vs %q", strings.ReplaceAll(k.row, "\x00", "/"), k.column, k.measure, w)) {
				return out
			}
		}
	}
	return out
}
