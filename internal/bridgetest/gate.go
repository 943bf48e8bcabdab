// Package bridgetest helps tests of the bridge's contracts: it holds a sync
// in the middle of its read, so that another run, an admin action or a
// second process can meet it there, and runs one pass of a change source.
package bridgetest

import (
	"context"
	"sync"

	"github.com/scimbridge/scimbridge/bridge"
	"github.com/scimbridge/scimbridge/schema"
)

// Gate holds every user read of the directories its Dialer returns until
// Release. Started is closed when the first read reaches the gate.
type Gate struct {
	Started chan struct{}
	release chan struct{}
	once    sync.Once
}

// NewGate returns a closed gate.
func NewGate() *Gate {
	return &Gate{Started: make(chan struct{}), release: make(chan struct{})}
}

// Dialer wraps dial: the directories it returns wait at the gate before
// reading users.
func (g *Gate) Dialer(dial bridge.Dialer) bridge.Dialer {
	return func(ctx context.Context, s *schema.Settings) (bridge.Directory, error) {
		d, err := dial(ctx, s)
		if err != nil {
			return nil, err
		}
		return gated{Directory: d, g: g}, nil
	}
}

// Release opens the gate for every read, now and later.
func (g *Gate) Release() { close(g.release) }

type gated struct {
	bridge.Directory
	g *Gate
}

func (d gated) Users(ctx context.Context, fn func(*schema.Entry) error) error {
	d.g.once.Do(func() { close(d.g.Started) })
	select {
	case <-d.g.release:
	case <-ctx.Done():
		return ctx.Err()
	}
	return d.Directory.Users(ctx, fn)
}
