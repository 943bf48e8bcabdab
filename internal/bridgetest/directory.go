package bridgetest

import (
	"context"
	"math/rand/v2"
	"strings"
	"sync"

	"github.com/scimbridge/scimbridge/bridge"
	"github.com/scimbridge/scimbridge/schema"
)

// Directory is an in-memory bridge.Directory for tests of the sync's rules:
// no slapd needed. It returns its entries in the order its Order gives, so
// that a test can show a result does not depend on the order a directory
// returns entries in (LDAP defines none).
type Directory struct {
	mu     sync.Mutex
	users  []*schema.Entry
	groups []*schema.Entry
	order  Order
}

// Order gives the order in which n entries are returned: a permutation of 0..n-1.
type Order func(n int) []int

// Forward returns entries in the order they were set.
func Forward(n int) []int {
	p := make([]int, n)
	for i := range p {
		p[i] = i
	}
	return p
}

// Reverse returns entries last first.
func Reverse(n int) []int {
	p := Forward(n)
	for i, j := 0, n-1; i < j; i, j = i+1, j-1 {
		p[i], p[j] = p[j], p[i]
	}
	return p
}

// Shuffled returns an order that shuffles entries with a fixed seed.
func Shuffled(seed uint64) Order {
	return func(n int) []int {
		p := Forward(n)
		rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)).Shuffle(n, func(i, j int) { p[i], p[j] = p[j], p[i] })
		return p
	}
}

// NewDirectory returns an empty directory that returns entries in order o.
func NewDirectory(o Order) *Directory { return &Directory{order: o} }

// Set replaces the directory's content.
func (d *Directory) Set(users, groups []*schema.Entry) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.users, d.groups = users, groups
}

// Dialer returns a bridge.Dialer that connects to d.
func (d *Directory) Dialer() bridge.Dialer {
	return func(context.Context, *schema.Settings) (bridge.Directory, error) { return conn{d}, nil }
}

type conn struct{ d *Directory }

func (c conn) Users(ctx context.Context, fn func(*schema.Entry) error) error {
	c.d.mu.Lock()
	users := c.d.users
	c.d.mu.Unlock()
	return c.d.each(ctx, users, fn)
}

func (c conn) Groups(ctx context.Context, fn func(*schema.Entry) error) error {
	c.d.mu.Lock()
	groups := c.d.groups
	c.d.mu.Unlock()
	return c.d.each(ctx, groups, fn)
}

func (conn) Close() error { return nil }

func (d *Directory) each(ctx context.Context, entries []*schema.Entry, fn func(*schema.Entry) error) error {
	d.mu.Lock()
	order := d.order(len(entries))
	d.mu.Unlock()
	for _, i := range order {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := fn(clone(entries[i])); err != nil {
			return err
		}
	}
	return nil
}

// clone copies e, so that a run may keep or change what it reads.
func clone(e *schema.Entry) *schema.Entry {
	c := &schema.Entry{DN: e.DN, Attrs: make(map[string][][]byte, len(e.Attrs))}
	for k, vs := range e.Attrs {
		c.Attrs[k] = append([][]byte(nil), vs...)
	}
	return c
}

// Entry returns an entry with DN dn and attributes given as "name: value"
// lines (a name may repeat for more values).
func Entry(dn string, lines ...string) *schema.Entry {
	e := &schema.Entry{DN: dn, Attrs: map[string][][]byte{}}
	for _, l := range lines {
		name, value, _ := strings.Cut(l, ":")
		name = strings.ToLower(strings.TrimSpace(name))
		e.Attrs[name] = append(e.Attrs[name], []byte(strings.TrimSpace(value)))
	}
	return e
}
