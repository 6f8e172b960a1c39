package duckgrid

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/duckgrid/duckgrid/clients/go/duckgridv1"
)

// UpdateKind says what a watch message did to the local copy.
type UpdateKind int

const (
	// UpdateSnapshot: the local copy was (re)built from a snapshot.
	UpdateSnapshot UpdateKind = iota + 1
	// UpdateChange: a change event was applied.
	UpdateChange
	// UpdateProgress: a heartbeat; the copy is current up to its head revision.
	UpdateProgress
)

func (k UpdateKind) String() string {
	switch k {
	case UpdateSnapshot:
		return "snapshot"
	case UpdateChange:
		return "change"
	case UpdateProgress:
		return "progress"
	}
	return fmt.Sprintf("UpdateKind(%d)", int(k))
}

// Update is passed to the Watcher's callback after each message was applied.
type Update struct {
	Kind UpdateKind
	// Revision is the local copy's revision after the update.
	Revision int64
	// Change is the event applied (UpdateChange only).
	Change *duckgridv1.ChangeEvent
	// Grid is the local copy. Read it only inside the callback (Run's
	// goroutine owns it); use Watcher.Value from other goroutines.
	Grid *LocalGrid
}

// Watcher keeps a local copy of one sheet current: it asks WatchUpdates for
// a snapshot and then every change after it; when the stream breaks it
// resumes from the last revision received + 1, so nothing is missed or seen
// twice. A start revision the server no longer retains (OUT_OF_RANGE) makes it
// take a fresh snapshot. It works for any sheet (see LocalGrid).
type Watcher struct {
	Client duckgridv1.GridServiceClient
	// Sheet is the sheet's resource name, "sheets/{sheet_id}".
	Sheet string
	// RowPath and Measures optionally narrow the watch.
	RowPath  []string
	Measures []string
	// MinBackoff and MaxBackoff bound the wait before reconnecting after an
	// error (defaults 100ms and 5s).
	MinBackoff, MaxBackoff time.Duration

	mu         sync.Mutex
	grid       *LocalGrid
	drop       context.CancelFunc
	dropped    bool
	reconnects int
}

type callbackError struct{ err error }

func (e callbackError) Error() string { return e.err.Error() }

// Run watches until ctx is done (returning ctx.Err()), the callback returns an
// error (returned as is), or the server fails the watch with a non-retryable
// status. fn may be nil.
func (w *Watcher) Run(ctx context.Context, fn func(Update) error) error {
	minB, maxB := w.MinBackoff, w.MaxBackoff
	if minB <= 0 {
		minB = 100 * time.Millisecond
	}
	if maxB < minB {
		maxB = max(5*time.Second, minB)
	}
	backoff := minB
	for {
		streamCtx, cancel := context.WithCancel(ctx)
		w.mu.Lock()
		w.drop, w.dropped = cancel, false
		req := &duckgridv1.WatchUpdatesRequest{Sheet: w.Sheet, RowPath: w.RowPath, Measures: w.Measures}
		if w.grid == nil {
			req.SendSnapshot = true
		} else {
			req.StartRevision = w.grid.Revision + 1
		}
		w.mu.Unlock()

		received := false
		stream, err := w.Client.WatchUpdates(streamCtx, req)
		if err == nil {
			err = w.consume(stream, fn, &received)
		}
		cancel()

		w.mu.Lock()
		dropped := w.dropped
		w.drop = nil
		w.mu.Unlock()
		var cbErr callbackError
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case errors.As(err, &cbErr):
			return cbErr.err
		case received:
			backoff = minB
		}
		code := status.Code(err)
		switch {
		case dropped:
			// DropStream: reconnect at once.
		case code == codes.OutOfRange:
			w.mu.Lock()
			w.grid = nil // the start revision is gone: re-read and re-watch
			w.mu.Unlock()
		case err == io.EOF || retryable(code):
			select {
			case <-time.After(backoff):
			case <-ctx.Done():
				return ctx.Err()
			}
			backoff = min(2*backoff, maxB)
		default:
			return err
		}
		w.mu.Lock()
		w.reconnects++
		w.mu.Unlock()
	}
}

func retryable(c codes.Code) bool {
	switch c {
	case codes.Unavailable, codes.ResourceExhausted, codes.Aborted, codes.Internal,
		codes.Unknown, codes.DeadlineExceeded, codes.Canceled:
		return true
	}
	return false
}

func (w *Watcher) consume(stream duckgridv1.GridService_WatchUpdatesClient, fn func(Update) error, received *bool) error {
	for {
		msg, err := stream.Recv()
		if err != nil {
			return err
		}
		*received = true
		var u Update
		w.mu.Lock()
		switch k := msg.GetKind().(type) {
		case *duckgridv1.WatchUpdatesResponse_Snapshot:
			w.grid = NewLocalGrid(k.Snapshot)
			u = Update{Kind: UpdateSnapshot}
		case *duckgridv1.WatchUpdatesResponse_Change:
			if w.grid == nil {
				w.mu.Unlock()
				return fmt.Errorf("duckgrid: change %d arrived before the snapshot", k.Change.GetRevision())
			}
			if _, err := w.grid.Apply(k.Change); err != nil {
				w.mu.Unlock()
				return callbackError{err}
			}
			u = Update{Kind: UpdateChange, Change: k.Change}
		case *duckgridv1.WatchUpdatesResponse_Progress:
			if w.grid != nil && k.Progress.GetHeadRevision() > w.grid.Revision {
				// Every revision up to head was delivered or filtered out.
				w.grid.Revision = k.Progress.GetHeadRevision()
			}
			u = Update{Kind: UpdateProgress}
		default:
			w.mu.Unlock()
			continue // a kind this client does not know yet
		}
		u.Grid = w.grid
		if w.grid != nil {
			u.Revision = w.grid.Revision
		}
		w.mu.Unlock()
		if fn != nil {
			if err := fn(u); err != nil {
				return callbackError{err}
			}
		}
	}
}

// DropStream cancels the current stream (as a network failure would); Run
// resumes at once from the last revision received + 1.
func (w *Watcher) DropStream() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.drop != nil {
		w.dropped = true
		w.drop()
	}
}

// Revision is the local copy's revision (-1 before the first snapshot).
func (w *Watcher) Revision() int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.grid == nil {
		return -1
	}
	return w.grid.Revision
}

// Value reads a cell of the local copy; safe from any goroutine.
func (w *Watcher) Value(path []string, column, measure string) (string, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.grid == nil {
		return "", false
	}
	return w.grid.Value(path, column, measure)
}

// Caption reads a row's caption in the local copy; safe from any goroutine.
func (w *Watcher) Caption(path []string) string {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.grid == nil {
		return ""
	}
	return w.grid.Caption(path)
}

// Diff compares the local copy with a grid read by GetSheet (see LocalGrid.Diff).
func (w *Watcher) Diff(g *duckgridv1.Grid, max int) []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.grid == nil {
		return []string{"no snapshot yet"}
	}
	return w.grid.Diff(NewLocalGrid(g), max)
}

// Reconnects counts the streams opened after the first one.
func (w *Watcher) Reconnects() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.reconnects
}
