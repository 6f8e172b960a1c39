// Command update writes one cell and prints what the write did. It works
// against any model: without --sheet it writes the first sheet of ListSheets,
// without --measure that sheet's first measure, without --column its first
// month column and without --row (or --total) its first leaf row.
//
//	go run ./examples/update --addr 127.0.0.1:50051 --value 1234.50
//	go run ./examples/update --addr 127.0.0.1:50051 --column 2024-03 --measure net_amount --value 1234.50
//
// Against a server with TLS and API keys (the token may also come from
// $DUCKGRID_TOKEN; add --cert/--key for mutual TLS):
//
//	go run ./examples/update --addr 127.0.0.1:50051 --ca certs/ca.pem --token dg_... --value 1234.50
package main

import (
	"flag"
	"fmt"
	"os"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/duckgrid/duckgrid/clients/go/duckgrid"
	"github.com/duckgrid/duckgrid/clients/go/duckgridv1"
	"github.com/duckgrid/duckgrid/clients/go/examples/internal/cli"
)

func main() {
	target := cli.CellFlags("write the grand total row")
	value := flag.String("value", "", "the value (a decimal string; required)")
	mode := flag.String("mode", "set", "set, add or percent")
	spread := flag.String("spread", "proportional", "proportional or equal")
	expected := flag.String("expected", "", "compare-and-set: the value you expect the cell to hold")
	actor := flag.String("actor", "", `who writes (x-duckgrid-actor; default "go-example" without --token or --cert: with credentials the server records their subject and only admins may name another actor)`)
	connection := cli.ConnectionFlags()
	flag.Parse()
	if *value == "" {
		fmt.Fprintln(os.Stderr, "update: --value is required")
		os.Exit(2)
	}

	*actor = connection.Actor(*actor)
	conn := connection.Dial()
	defer conn.Close()
	client := duckgridv1.NewGridServiceClient(conn)
	ctx, cancel := cli.ActorContext(*actor)
	defer cancel()

	cell, err := target.Find(ctx, client)
	if err != nil {
		fail(err)
	}
	edit := &duckgridv1.CellEdit{
		Cell:   cell,
		Value:  *value,
		Mode:   map[string]duckgridv1.UpdateMode{"set": 1, "add": 2, "percent": 3}[*mode],
		Spread: map[string]duckgridv1.SpreadMethod{"proportional": 1, "equal": 2}[*spread],
	}
	if *expected != "" {
		edit.ExpectedValue = expected
	}
	resp, err := client.UpdateCell(ctx, &duckgridv1.UpdateCellRequest{Edit: edit})
	if status.Code(err) == codes.Aborted {
		if cur, ok := duckgrid.CurrentValue(err); ok {
			fmt.Printf("conflict: [%s] %s %s is %s, not %s\n", duckgrid.FormatPath(cell.GetRowPath()), cell.GetColumn(), cell.GetMeasure(), cur, *expected)
			os.Exit(3)
		}
	}
	if err != nil {
		fail(err)
	}
	r := resp.GetResult()
	fmt.Printf("revision %d: [%s] %s %s: %q -> %q (%d facts changed)\n",
		resp.GetRevision(), duckgrid.FormatPath(cell.GetRowPath()), cell.GetColumn(), cell.GetMeasure(), r.GetPreviousValue(), r.GetNewValue(), r.GetFactsChanged())
	for _, sc := range resp.GetChanges() {
		fmt.Printf("  %s: %d cells changed\n", sc.GetSheet(), len(sc.GetCells()))
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "update:", err)
	os.Exit(1)
}
