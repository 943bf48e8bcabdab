package bridge

import (
	"sync"
	"sync/atomic"
)

// writeOp is one step for the writer: rows to insert, ids to take back, or
// the end of the read.
type writeOp struct {
	runID int64
	rows  []UserRow
	del   []string
	end   bool
}

// userWriter writes new users into the run's transaction on a goroutine of
// its own, so that SQLite works while the directory is still being read.
// After the first error it writes nothing more; wait returns the error.
type userWriter struct {
	ops    chan writeOp
	done   chan struct{}
	failed atomic.Bool
	err    error // set before done is closed
	once   sync.Once
}

func startWriter(tx Tx) *userWriter {
	w := &userWriter{ops: make(chan writeOp, 4), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		for op := range w.ops {
			if w.err != nil {
				continue
			}
			switch {
			case op.end:
				w.err = tx.UsersDone()
			case op.rows != nil:
				w.err = tx.CreateUsers(op.runID, op.rows)
			default:
				w.err = tx.DeleteCreated(op.del)
			}
			if w.err != nil {
				w.failed.Store(true)
			}
		}
	}()
	return w
}

func (w *userWriter) send(op writeOp) error {
	if w.failed.Load() {
		return &writeError{w.wait()}
	}
	w.ops <- op
	return nil
}

// end tells the writer the read is over and lets it finish the users'
// work without waiting for it; wait collects its error.
func (w *userWriter) end() error {
	if err := w.send(writeOp{end: true}); err != nil {
		return err
	}
	w.once.Do(func() { close(w.ops) })
	return nil
}

// wait stops the writer once it has written everything sent, and returns
// its error. The transaction is the caller's again afterwards.
func (w *userWriter) wait() error {
	w.once.Do(func() { close(w.ops) })
	<-w.done
	return w.err
}
