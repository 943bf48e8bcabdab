// Package capturetest records what a directory server sends: a loopback TCP
// proxy in front of it keeps, per connection, every byte the server wrote.
// Tests decode the recorded LDAP messages both with go-ldap and with
// ldapsource's bulk decoder, and keep them as fuzz seeds.
package capturetest

import (
	"bytes"
	"net"
	"sync"
	"testing"
)

// Proxy relays connections to a server and records the server's side.
type Proxy struct {
	// Addr is the proxy's host:port; ldap://Addr reaches the server.
	Addr string

	mu      sync.Mutex
	streams []*bytes.Buffer
	refuse  bool
}

// RefuseNew makes the proxy close every connection it accepts from now on,
// as a server at its connection limit might.
func (p *Proxy) RefuseNew() {
	p.mu.Lock()
	p.refuse = true
	p.mu.Unlock()
}

// Start proxies a free loopback port to target (host:port) until the test ends.
func Start(t testing.TB, target string) *Proxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &Proxy{Addr: l.Addr().String()}
	var wg sync.WaitGroup
	t.Cleanup(func() { l.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			client, err := l.Accept()
			if err != nil {
				return
			}
			p.mu.Lock()
			refuse := p.refuse
			p.mu.Unlock()
			if refuse {
				client.Close()
				continue
			}
			server, err := net.Dial("tcp", target)
			if err != nil {
				client.Close()
				continue
			}
			rec := &bytes.Buffer{}
			p.mu.Lock()
			p.streams = append(p.streams, rec)
			p.mu.Unlock()
			wg.Add(2)
			go func() { defer wg.Done(); p.relay(client, server, rec) }()
			go func() { defer wg.Done(); p.relay(server, client, nil) }()
		}
	}()
	return p
}

// relay copies src to dst, recording into rec when set, then closes both.
func (p *Proxy) relay(dst, src net.Conn, rec *bytes.Buffer) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if rec != nil {
				p.mu.Lock()
				rec.Write(buf[:n])
				p.mu.Unlock()
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				break
			}
		}
		if err != nil {
			break
		}
	}
	dst.Close()
	src.Close()
}

// Streams returns a copy of what the server sent on each connection so far,
// in the order the connections were opened.
func (p *Proxy) Streams() [][]byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([][]byte, len(p.streams))
	for i, s := range p.streams {
		out[i] = bytes.Clone(s.Bytes())
	}
	return out
}
