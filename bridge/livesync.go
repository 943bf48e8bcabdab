package bridge

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/scimbridge/scimbridge/schema"
)

// Live states.
const (
	LiveConnected    = "connected"    // a persistent stream is open (syncrepl)
	LivePolling      = "polling"      // the directory is asked every sync.livePollSeconds
	LiveReconnecting = "reconnecting" // the stream failed: waiting to connect again
	LiveOff          = "off"
)

// LiveStatus is the state of the live stream, as GET /api/v1/status shows it.
type LiveStatus struct {
	State     string `json:"state"`
	Mechanism string `json:"mechanism"`
	// Note says in words what the state means, e.g. that the directory has
	// no change stream and is polled instead.
	Note string `json:"note,omitempty"`
	// LastChangeAt is when the last batch that changed something was applied.
	LastChangeAt *time.Time `json:"lastChangeAt"`
	// LagMs is how long the last batch took from its arrival to its commit.
	LagMs     int64  `json:"lagMs"`
	LastError string `json:"lastError"`
}

// Live keeps a change stream open and applies each batch as it comes.
type Live struct {
	s    *Syncer
	load func(ctx context.Context) (*schema.Settings, error)

	mu     sync.Mutex
	status LiveStatus
	cancel context.CancelFunc
	done   chan struct{}
	// OnRun, when set before Start, is called with each run the stream records.
	OnRun func(*Report)
}

// NewLive returns a stopped live stream of s; load reads the settings at
// each (re)connection.
func NewLive(s *Syncer, load func(ctx context.Context) (*schema.Settings, error)) *Live {
	return &Live{s: s, load: load, status: LiveStatus{State: LiveOff}}
}

// Status returns the stream's state.
func (l *Live) Status() LiveStatus {
	l.mu.Lock()
	defer l.mu.Unlock()
	st := l.status
	if st.LastChangeAt != nil {
		t := *st.LastChangeAt
		st.LastChangeAt = &t
	}
	return st
}

func (l *Live) set(fn func(*LiveStatus)) {
	l.mu.Lock()
	defer l.mu.Unlock()
	fn(&l.status)
}

// Running says the stream is started.
func (l *Live) Running() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.cancel != nil
}

// Start starts the stream in the background; it does nothing when started.
func (l *Live) Start() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.cancel != nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	l.cancel, l.done = cancel, make(chan struct{})
	go func() {
		defer close(l.done)
		l.run(ctx)
	}()
}

// Stop ends the stream and waits for it; a batch being applied rolls back.
func (l *Live) Stop() {
	l.mu.Lock()
	cancel, done := l.cancel, l.done
	l.cancel, l.done = nil, nil
	l.mu.Unlock()
	if cancel == nil {
		return
	}
	cancel()
	<-done
	l.set(func(st *LiveStatus) { st.State = LiveOff })
}

// Backoff bounds of reconnections.
const (
	liveBackoffMin = time.Second
	liveBackoffMax = time.Minute
)

func (l *Live) run(ctx context.Context) {
	backoff := liveBackoffMin
	for ctx.Err() == nil {
		err := l.once(ctx)
		if ctx.Err() != nil {
			return
		}
		var nf *needFull
		if errors.Is(err, schema.ErrPositionExpired) || errors.As(err, &nf) {
			continue // once ran a full sync: connect again at once
		}
		msg := "the stream ended"
		if err != nil {
			msg = err.Error()
		}
		l.s.log.Warn("live changes: reconnecting", "err", msg, "in", backoff.String())
		l.set(func(st *LiveStatus) { st.State, st.LastError = LiveReconnecting, msg })
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, liveBackoffMax)
		if err == nil {
			backoff = liveBackoffMin
		}
	}
}

// once connects, resumes from the stored position (or runs a full sync to
// get one) and applies batches until the stream fails or ctx ends.
func (l *Live) once(ctx context.Context) error {
	settings, err := l.load(ctx)
	if err != nil {
		return fmt.Errorf("load settings: %w", err)
	}
	cs, ok := l.s.store.(ChangeStore)
	if l.s.changes == nil || !ok {
		return ErrNoChangeSource
	}
	src, err := l.s.changes(ctx, settings, true)
	if err != nil {
		return fmt.Errorf("connect to %s for live changes: %w", settings.Connection.URL, err)
	}
	defer src.Close()
	mech := src.Mechanism()
	state, note := LivePolling, fmt.Sprintf("%s polled every %d s", mech, settings.Sync.LivePollSeconds)
	switch mech {
	case "syncrepl":
		state, note = LiveConnected, "syncrepl refreshAndPersist: changes are pushed by the directory"
	case "timestamps":
		note = fmt.Sprintf("the directory offers no change stream (OpenLDAP needs the syncprov overlay; Active Directory DirSync): modifyTimestamp is polled every %d s, deletions are found by full syncs", settings.Sync.LivePollSeconds)
	}
	opt := Options{Trigger: TriggerLive, track: true}
	pos, saved, err := cs.ChangePosition(ctx)
	if err != nil {
		return fmt.Errorf("read the change position: %w", err)
	}
	if pos == nil || saved != mech {
		return l.full(ctx, settings, opt, "no saved change position for "+mech+": a full sync takes the first one")
	}
	if l.s.heldAt(pos) {
		return errHeldWaiting
	}
	l.set(func(st *LiveStatus) { st.State, st.Mechanism, st.Note, st.LastError = state, mech, note, "" })
	err = src.Changes(ctx, pos, true, func(b schema.ChangeBatch) error {
		if len(b.Changes) == 0 {
			return nil
		}
		arrived := timeNow()
		unlock, err := l.s.lockWaiting(ctx)
		if err != nil {
			return err
		}
		r, err := l.s.applyBatch(ctx, cs, settings, mech, pos, b, opt)
		unlock()
		if r != nil && l.OnRun != nil {
			l.OnRun(r)
		}
		if err != nil {
			if errors.Is(err, errHeld) {
				l.s.held.Store(&pos)
				return errHeldWaiting
			}
			return err
		}
		pos = b.Position
		if r != nil { // a batch that changed nothing is no change applied
			done := timeNow()
			l.set(func(st *LiveStatus) { st.LastChangeAt, st.LagMs = &done, done.Sub(arrived).Milliseconds() })
		}
		return nil
	})
	var nf *needFull
	switch {
	case errors.Is(err, schema.ErrPositionExpired):
		src.Close()
		_ = l.full(ctx, settings, opt, "the directory no longer accepts the saved change position: "+err.Error())
		return err
	case errors.As(err, &nf):
		src.Close()
		_ = l.full(ctx, settings, opt, nf.reason)
		return err
	}
	return err
}

// errHeldWaiting: a batch was held by deletion safety; the stream waits for
// a full sync to move the stored position.
var errHeldWaiting = errors.New("changes held by deletion safety: approve them with a full sync with allowDeletes")

// full runs a full sync for the stream, once the run lock is free.
func (l *Live) full(ctx context.Context, settings *schema.Settings, opt Options, reason string) error {
	unlock, err := l.s.lockWaiting(ctx)
	if err != nil {
		return err
	}
	r, err := l.s.fullInstead(ctx, settings, opt, reason, unlock)
	if r != nil && l.OnRun != nil {
		l.OnRun(r)
	}
	if err == nil && r.Status != StatusSucceeded {
		err = fmt.Errorf("the full sync for live changes ended %s: %s", r.Status, r.Error)
	}
	if err != nil {
		return err
	}
	return &needFull{reason: reason}
}

// lockWaiting takes the run lock, waiting while another run holds it.
func (s *Syncer) lockWaiting(ctx context.Context) (func(), error) {
	for {
		unlock, err := s.lock(ctx)
		if !errors.Is(err, ErrBusy) {
			return unlock, err
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}
