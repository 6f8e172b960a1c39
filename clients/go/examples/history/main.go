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
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/duckgrid/duckgrid/clients/go/duckgrid"
	"github.com/duckgrid/duckgrid/clients/go/duckgridv1"
	"github.com/duckgrid/duckgrid/clients/go/examples/internal/cli"
)

func main() {
	target := cli.CellFlags("the grand total row")
	limit := flag.Int("limit", 20, "print at most this many revisions (0: all retained)")
	undo := flag.Bool("undo", false, "first undo the latest revision of --actor that is in effect")
	session := flag.String("session", "", "with --undo: only among the writes of this client session (x-duckgrid-session)")
	actor := flag.String("actor", "", `whose revision --undo takes back (x-duckgrid-actor; default "go-example" without --token or --cert: with credentials it is their subject)`)
	connection := cli.ConnectionFlags()
	flag.Parse()

	*actor = connection.Actor(*actor)
	conn := connection.Dial()
	defer conn.Close()
	client := duckgridv1.NewGridServiceClient(conn)
	ctx, cancel := cli.ActorContext(*actor)
	defer cancel()

	if *undo {
		undoLatest(ctx, client, *actor, *session)
	}

	cell, err := target.Find(ctx, client)
	if err != nil {
		fail(err)
	}
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
