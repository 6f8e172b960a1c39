// Command watch follows a sheet: it prints the snapshot, then every change as
// it commits, and keeps a local copy current across disconnects (resuming
// from the last revision + 1). Without --sheet it follows the first sheet of
// ListSheets, so it works against any model.
//
//	go run ./examples/watch --addr 127.0.0.1:50051
//	go run ./examples/watch --addr 127.0.0.1:50051 --sheet sheets/sales_by_product_family
//
// Against a server with TLS and API keys (the token may also come from
// $DUCKGRID_TOKEN; add --cert/--key for mutual TLS):
//
//	go run ./examples/watch --addr 127.0.0.1:50051 --ca certs/ca.pem --token dg_...
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/duckgrid/duckgrid/clients/go/duckgrid"
	"github.com/duckgrid/duckgrid/clients/go/duckgridv1"
	"github.com/duckgrid/duckgrid/clients/go/examples/internal/cli"
)

var errDone = errors.New("done")

func main() {
	sheet := flag.String("sheet", "", "sheet resource name (default: the first sheet)")
	changes := flag.Int("changes", 0, "exit after this many changes (0: run until interrupted)")
	connection := cli.ConnectionFlags()
	flag.Parse()

	conn := connection.Dial()
	defer conn.Close()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	client := duckgridv1.NewGridServiceClient(conn)
	if *sheet == "" {
		sheets, err := duckgrid.ListSheets(ctx, client)
		if err != nil {
			fmt.Fprintln(os.Stderr, "watch:", err)
			os.Exit(1)
		}
		if len(sheets) == 0 {
			fmt.Fprintln(os.Stderr, "watch: the server has no sheets")
			os.Exit(1)
		}
		*sheet = sheets[0].GetName()
	}

	w := &duckgrid.Watcher{Client: client, Sheet: *sheet}
	seen := 0
	err := w.Run(ctx, func(u duckgrid.Update) error {
		switch u.Kind {
		case duckgrid.UpdateSnapshot:
			fmt.Printf("snapshot %s at revision %d: %d rows, %d cells\n", u.Grid.Sheet, u.Revision, len(u.Grid.Rows()), u.Grid.Len())
		case duckgrid.UpdateChange:
			n := 0
			for _, sc := range u.Change.GetChanges() {
				if sc.GetSheet() == *sheet {
					n += len(sc.GetCells())
				}
			}
			fmt.Printf("revision %d by %q: %d cells changed\n", u.Revision, u.Change.GetActor(), n)
			for _, sc := range u.Change.GetChanges() {
				if sc.GetSheet() != *sheet {
					continue
				}
				for i, c := range sc.GetCells() {
					if i == 5 {
						fmt.Printf("  ... and %d more\n", len(sc.GetCells())-5)
						break
					}
					fmt.Printf("  [%s] %s %s = %s\n", duckgrid.FormatPath(c.GetRowPath()), c.GetColumn(), c.GetMeasure(), c.GetValue())
				}
			}
			seen++
			if *changes > 0 && seen >= *changes {
				return errDone
			}
		}
		return nil
	})
	if err != nil && !errors.Is(err, errDone) && !errors.Is(err, context.Canceled) {
		fmt.Fprintln(os.Stderr, "watch:", err)
		os.Exit(1)
	}
}
