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
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
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
	total := flag.Bool("total", false, "write the grand total row")
	column := flag.String("column", "", `column key ("2024-03", "2024-Q1", "2024" or "total"; default: the first month)`)
	measure := flag.String("measure", "", "measure name (default: the sheet's first measure)")
	value := flag.String("value", "", "the value (a decimal string; required)")
	mode := flag.String("mode", "set", "set, add or percent")
	spread := flag.String("spread", "proportional", "proportional or equal")
	expected := flag.String("expected", "", "compare-and-set: the value you expect the cell to hold")
	actor := flag.String("actor", "", `who writes (x-duckgrid-actor; default "go-example" without --token or --cert: with credentials the server records their subject and only admins may name another actor)`)
	token := flag.String("token", os.Getenv("DUCKGRID_TOKEN"), "API key sent as a bearer token (default $DUCKGRID_TOKEN)")
	ca := flag.String("ca", "", "connect over TLS, trusting this PEM CA certificate (ca.pem)")
	cert := flag.String("cert", "", "client certificate PEM for mutual TLS (needs --key)")
	key := flag.String("key", "", "client private key PEM for mutual TLS")
	serverName := flag.String("server-name", "", "connect over TLS, verifying the server certificate against this name")
	flag.Parse()
	if *value == "" {
		fmt.Fprintln(os.Stderr, "update: --value is required")
		os.Exit(2)
	}

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

	if *sheet == "" || *measure == "" || *column == "" {
		sheets, err := duckgrid.ListSheets(ctx, client)
		if err != nil {
			fail(err)
		}
		if len(sheets) == 0 {
			fail(errors.New("the server has no sheets"))
		}
		s := sheets[0]
		if *sheet != "" {
			if s, err = duckgrid.FindSheet(sheets, *sheet); err != nil {
				fail(err)
			}
		}
		*sheet = s.GetName()
		if *measure == "" {
			if len(s.GetMeasures()) == 0 {
				fail(fmt.Errorf("sheet %s has no measures", s.GetName()))
			}
			*measure = s.GetMeasures()[0].GetName()
		}
		if *column == "" {
			if *column, err = duckgrid.FirstMonthColumn(s); err != nil {
				fail(err)
			}
		}
	}

	path := duckgrid.ParsePath(*row)
	if *row == "" && !*total {
		resp, err := client.GetSheet(ctx, &duckgridv1.GetSheetRequest{Name: *sheet, Columns: []string{*column}, Measures: []string{*measure}})
		if err != nil {
			fail(err)
		}
		leaf, err := duckgrid.FirstLeaf(resp.GetGrid())
		if err != nil {
			fail(err)
		}
		path = leaf.GetPath()
	}
	edit := &duckgridv1.CellEdit{
		Cell:   duckgrid.Cell(*sheet, path, *column, *measure),
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
			fmt.Printf("conflict: [%s] %s %s is %s, not %s\n", duckgrid.FormatPath(path), *column, *measure, cur, *expected)
			os.Exit(3)
		}
	}
	if err != nil {
		fail(err)
	}
	r := resp.GetResult()
	fmt.Printf("revision %d: [%s] %s %s: %q -> %q (%d facts changed)\n",
		resp.GetRevision(), duckgrid.FormatPath(path), *column, *measure, r.GetPreviousValue(), r.GetNewValue(), r.GetFactsChanged())
	for _, sc := range resp.GetChanges() {
		fmt.Printf("  %s: %d cells changed\n", sc.GetSheet(), len(sc.GetCells()))
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "update:", err)
	os.Exit(1)
}
