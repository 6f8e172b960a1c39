// Command history prints who changed one cell: the revisions that changed
// it, newest first, each with its time, actor, session, request id and the
// value before and after. With --undo it first undoes the latest revision of
// --actor that is still in effect (only among the writes of --session, if
// given). It works against any model: without --sheet it reads the first
// sheet of ListSheets, without --measure that sheet's first measure, without
// --column its first month column and without --row (or --total) its first
// leaf row.
//
//	go run ./examples/history --addr 127.0.0.1:50051
//	go run ./examples/history --addr 127.0.0.1:50051 --column 2024-03 --measure net_amount --limit 5
//	go run ./examples/history --addr 127.0.0.1:50051 --actor alice --undo
//
// Against a server with TLS and API keys (the token may also come from
// $DUCKGRID_TOKEN; add --cert/--key for mutual TLS; --undo then undoes the
// key's subject's latest revision):
//
//	go run ./examples/history --addr 127.0.0.1:50051 --ca certs/ca.pem --token dg_... --undo
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/duckgrid/duckgrid/clients/go/duckgrid"
	"github.com/duckgrid/duckgrid/clients/go/duckgridv1"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:50051", "server address host:port")
	sheet := flag.String("sheet", "", "sheet resource name (default: the first sheet)")
	row := flag.String("row", "", `row path, members joined by "/" ("" with --total for the grand total; default: the first leaf row)`)
	total := flag.Bool("total", false, "the grand total row")
	column := flag.String("column", "", `column key ("2024-03", "2024-Q1", "2024" or "total"; default: the first month)`)
	measure := flag.String("measure", "", "measure name (default: the sheet's first measure)")
	limit := flag.Int("limit", 20, "print at most this many revisions (0: all retained)")
	undo := flag.Bool("undo", false, "first undo the latest revision of --actor that is in effect")
	session := flag.String("session", "", "with --undo: only among the writes of this client session (x-duckgrid-session)")
	actor := flag.String("actor", "", `whose revision --undo takes back (x-duckgrid-actor; default "go-example" without --token or --cert: with credentials it is their subject)`)
	token := flag.String("token", os.Getenv("DUCKGRID_TOKEN"), "API key sent as a bearer token (default $DUCKGRID_TOKEN)")
	ca := flag.String("ca", "", "connect over TLS, trusting this PEM CA certificate (ca.pem)")
	cert := flag.String("cert", "", "client certificate PEM for mutual TLS (needs --key)")
	key := flag.String("key", "", "client private key PEM for mutual TLS")
	serverName := flag.String("server-name", "", "connect over TLS, verifying the server certificate against this name")
	flag.Parse()

	var opts []grpc.DialOption
	if *ca != "" || *cert != "" || *key != "" || *serverName != "" {
		opts = append(opts, duckgrid.WithTLS(duckgrid.TLSConfig{CAFile: *ca, CertFile: *cert, KeyFile: *key, ServerName: *serverName}))
	}
	if *token != "" {
		opts = append(opts, duckgrid.WithToken(*token))
	}
	if *actor == "" && *token == "" && *cert == "" {
		*actor = "go-example"
	}
	conn, err := duckgrid.Dial(*addr, opts...)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer conn.Close()
	client := duckgridv1.NewGridServiceClient(conn)
	ctx := context.Background()
	if *actor != "" {
		ctx = duckgrid.WithActor(ctx, *actor)
	}
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()

	if *undo {
		undoLatest(ctx, client, *actor, *session)
	}

	cell := findCell(ctx, client, *sheet, *row, *total, *column, *measure)
	fmt.Printf("history of [%s] %s %s in %s:\n", duckgrid.FormatPath(cell.GetRowPath()), cell.GetColumn(), cell.GetMeasure(), cell.GetSheet())
	n := 0
	for e, err := range duckgrid.CellHistorySeq(ctx, client, cell, duckgrid.HistoryOptions{Limit: *limit}) {
		if err != nil {
			fail(err)
		}
		n++
		fmt.Println(" ", describe(e))
	}
	if n == 0 {
		fmt.Println("  no revision in the retained history changed it")
	}
}

// undoLatest undoes the caller's latest revision in effect and prints what
// it did; a conflict with later revisions exits with status 3.
func undoLatest(ctx context.Context, client duckgridv1.GridServiceClient, actor, session string) {
	who := "yours"
	if actor != "" {
		who = fmt.Sprintf("%q's", actor)
	}
	rev, err := duckgrid.Undo(ctx, client, duckgrid.UndoOptions{SessionID: session})
	if info, ok := duckgrid.ErrorInfo(err); ok {
		switch {
		case status.Code(err) == codes.FailedPrecondition && info.GetReason() == duckgrid.ReasonNothingToUndo:
			fmt.Printf("undo: nothing of %s to undo\n", who)
			return
		case status.Code(err) == codes.Aborted && info.GetReason() == duckgrid.ReasonRevisionConflict:
			later, _ := duckgrid.ConflictingRevisions(err)
			fmt.Printf("undo: conflict: revision %s of %s was changed since by revisions %v (not undone)\n", info.GetMetadata()["revision"], who, later)
			os.Exit(3)
		}
	}
	if err != nil {
		fail(err)
	}
	ev := rev.GetChange()
	cells := 0
	for _, sc := range ev.GetChanges() {
		cells += len(sc.GetCells())
	}
	fmt.Printf("undid revision %d by %q: revision %d (%d cells changed)\n", ev.GetRevertsRevision(), ev.GetActor(), ev.GetRevision(), cells)
}

// findCell resolves the defaults: the first sheet, its first measure, its
// first month and the first leaf row.
func findCell(ctx context.Context, client duckgridv1.GridServiceClient, sheet, row string, total bool, column, measure string) *duckgridv1.CellRef {
	if sheet == "" || measure == "" || column == "" {
		sheets, err := duckgrid.ListSheets(ctx, client)
		if err != nil {
			fail(err)
		}
		if len(sheets) == 0 {
			fail(errors.New("the server has no sheets"))
		}
		s := sheets[0]
		if sheet != "" {
			if s, err = duckgrid.FindSheet(sheets, sheet); err != nil {
				fail(err)
			}
		}
		sheet = s.GetName()
		if measure == "" {
			if len(s.GetMeasures()) == 0 {
				fail(fmt.Errorf("sheet %s has no measures", s.GetName()))
			}
			measure = s.GetMeasures()[0].GetName()
		}
		if column == "" {
			var err error
			if column, err = duckgrid.FirstMonthColumn(s); err != nil {
				fail(err)
			}
		}
	}
	path := duckgrid.ParsePath(row)
	if row == "" && !total {
		resp, err := client.GetSheet(ctx, &duckgridv1.GetSheetRequest{Name: sheet, Columns: []string{column}, Measures: []string{measure}})
		if err != nil {
			fail(err)
		}
		leaf, err := duckgrid.FirstLeaf(resp.GetGrid())
		if err != nil {
			fail(err)
		}
		path = leaf.GetPath()
	}
	return duckgrid.Cell(sheet, path, column, measure)
}

// describe prints one entry: "revision 12 at 2024-05-01T10:00:00Z by "alice"
// (session "s1", request "r1"): "1.00" -> "2.00", reverted by 14".
func describe(e duckgrid.HistoryEntry) string {
	var b strings.Builder
	fmt.Fprintf(&b, "revision %d at %s by %q", e.Revision, e.CommitTime.UTC().Format(time.RFC3339Nano), e.Actor)
	var about []string
	if e.SessionID != "" {
		about = append(about, fmt.Sprintf("session %q", e.SessionID))
	}
	if e.RequestID != "" {
		about = append(about, fmt.Sprintf("request %q", e.RequestID))
	}
	if len(about) > 0 {
		fmt.Fprintf(&b, " (%s)", strings.Join(about, ", "))
	}
	fmt.Fprintf(&b, ": %q -> %q", e.Before, e.After)
	if e.RevertsRevision != 0 {
		fmt.Fprintf(&b, ", reverts %d", e.RevertsRevision)
	}
	if e.RevertedBy != 0 {
		fmt.Fprintf(&b, ", reverted by %d", e.RevertedBy)
	}
	return b.String()
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "history:", err)
	os.Exit(1)
}
