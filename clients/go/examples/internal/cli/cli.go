// Package cli is what the example commands share: the connection flags and
// the connection they describe, the actor a writing example names, and the
// cell flags of update and history with the cell they name.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"time"

	"google.golang.org/grpc"

	"github.com/duckgrid/duckgrid/clients/go/duckgrid"
	"github.com/duckgrid/duckgrid/clients/go/duckgridv1"
)

// Connection is the connection flags every example takes.
type Connection struct {
	addr, token, ca, cert, key, serverName *string
}

// ConnectionFlags defines --addr, --token (default $DUCKGRID_TOKEN), --ca,
// --cert, --key and --server-name; call it before flag.Parse.
func ConnectionFlags() *Connection {
	return &Connection{
		addr:       flag.String("addr", "127.0.0.1:50051", "server address host:port"),
		token:      flag.String("token", os.Getenv("DUCKGRID_TOKEN"), "API key sent as a bearer token (default $DUCKGRID_TOKEN)"),
		ca:         flag.String("ca", "", "connect over TLS, trusting this PEM CA certificate (ca.pem)"),
		cert:       flag.String("cert", "", "client certificate PEM for mutual TLS (needs --key)"),
		key:        flag.String("key", "", "client private key PEM for mutual TLS"),
		serverName: flag.String("server-name", "", "connect over TLS, verifying the server certificate against this name"),
	}
}

// Dial connects to --addr: over TLS when --ca, --cert, --key or
// --server-name is given, sending --token as a bearer token when it is set.
// When that fails it prints why and exits with status 1.
func (c *Connection) Dial() *grpc.ClientConn {
	var opts []grpc.DialOption
	if *c.ca != "" || *c.cert != "" || *c.key != "" || *c.serverName != "" {
		opts = append(opts, duckgrid.WithTLS(duckgrid.TLSConfig{CAFile: *c.ca, CertFile: *c.cert, KeyFile: *c.key, ServerName: *c.serverName}))
	}
	if *c.token != "" {
		opts = append(opts, duckgrid.WithToken(*c.token))
	}
	conn, err := duckgrid.Dial(*c.addr, opts...)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	return conn
}

// Actor is who a writing example says it is: actor (its --actor) when
// given, else "go-example" when the flags carry no credentials, since the
// server then records the x-duckgrid-actor header. With --token or --cert it
// stays "": the server takes the actor from the key or the certificate (and
// lets only admins name another).
func (c *Connection) Actor(actor string) string {
	if actor == "" && *c.token == "" && *c.cert == "" {
		return "go-example"
	}
	return actor
}

// ActorContext is the context for an example's calls: naming actor as the
// writer (unless it is ""), with a 60-second deadline.
func ActorContext(actor string) (context.Context, context.CancelFunc) {
	ctx := context.Background()
	if actor != "" {
		ctx = duckgrid.WithActor(ctx, actor)
	}
	return context.WithTimeout(ctx, 60*time.Second)
}

// Cell is the flags that name one cell: --sheet, --row, --total, --column
// and --measure.
type Cell struct {
	sheet, row      *string
	total           *bool
	column, measure *string
}

// CellFlags defines the cell flags; totalUsage is the help of --total, which
// says what the example does with the grand total row. Call it before
// flag.Parse.
func CellFlags(totalUsage string) *Cell {
	return &Cell{
		sheet:   flag.String("sheet", "", "sheet resource name (default: the first sheet)"),
		row:     flag.String("row", "", `row path, members joined by "/" ("" with --total for the grand total; default: the first leaf row)`),
		total:   flag.Bool("total", false, totalUsage),
		column:  flag.String("column", "", `column key ("2024-03", "2024-Q1", "2024" or "total"; default: the first month)`),
		measure: flag.String("measure", "", "measure name (default: the sheet's first measure)"),
	}
}

// Find is the cell the flags name. Each of --sheet, --column and --measure
// not given takes the server's first: the first sheet of ListSheets, that
// sheet's first month column and its first measure; without --row and
// --total the row is the first leaf row of GetSheet for that column and
// measure. So the examples run against any model without knowing its names.
func (c *Cell) Find(ctx context.Context, client duckgridv1.GridServiceClient) (*duckgridv1.CellRef, error) {
	sheet, row, column, measure := *c.sheet, *c.row, *c.column, *c.measure
	if sheet == "" || measure == "" || column == "" {
		sheets, err := duckgrid.ListSheets(ctx, client)
		if err != nil {
			return nil, err
		}
		if len(sheets) == 0 {
			return nil, errors.New("the server has no sheets")
		}
		s := sheets[0]
		if sheet != "" {
			if s, err = duckgrid.FindSheet(sheets, sheet); err != nil {
				return nil, err
			}
		}
		sheet = s.GetName()
		if measure == "" {
			if len(s.GetMeasures()) == 0 {
				return nil, fmt.Errorf("sheet %s has no measures", s.GetName())
			}
			measure = s.GetMeasures()[0].GetName()
		}
		if column == "" {
			if column, err = duckgrid.FirstMonthColumn(s); err != nil {
				return nil, err
			}
		}
	}
	path := duckgrid.ParsePath(row)
	if row == "" && !*c.total {
		resp, err := client.GetSheet(ctx, &duckgridv1.GetSheetRequest{Name: sheet, Columns: []string{column}, Measures: []string{measure}})
		if err != nil {
			return nil, err
		}
		leaf, err := duckgrid.FirstLeaf(resp.GetGrid())
		if err != nil {
			return nil, err
		}
		path = leaf.GetPath()
	}
	return duckgrid.Cell(sheet, path, column, measure), nil
}
