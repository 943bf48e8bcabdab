package adtest

import (
	"io"
	"net"
	"sync"
	"testing"

	ber "github.com/go-asn1-ber/asn1-ber"
)

// searchLog is a plain-LDAP TCP proxy in front of the DC that records the
// attribute lists of the search requests passing through it, so a test can
// see what ldapsource asked for (e.g. "member;range=0-499").
type searchLog struct {
	URL string // ldap://127.0.0.1:<port>

	mu       sync.Mutex
	searches []loggedSearch
}

type loggedSearch struct {
	Base  string
	Attrs []string
}

// startSearchLog proxies a local port to target (host:389) until the test ends.
func startSearchLog(t *testing.T, target string) *searchLog {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &searchLog{URL: "ldap://" + l.Addr().String()}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		l.Close()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			client, err := l.Accept()
			if err != nil {
				return
			}
			server, err := net.Dial("tcp", target)
			if err != nil {
				client.Close()
				continue
			}
			wg.Add(2)
			go func() {
				defer wg.Done()
				_, _ = io.Copy(client, server)
				client.Close()
			}()
			go func() {
				defer wg.Done()
				pr, pw := io.Pipe()
				go p.parse(pr)
				_, _ = io.Copy(io.MultiWriter(server, pw), client)
				pw.Close()
				server.Close()
			}()
		}
	}()
	return p
}

// parse reads LDAP messages (client to server) and logs search requests.
func (p *searchLog) parse(r *io.PipeReader) {
	defer func() { _, _ = io.Copy(io.Discard, r) }()
	for {
		msg, err := ber.ReadPacket(r)
		if err != nil {
			return
		}
		if len(msg.Children) < 2 {
			continue
		}
		op := msg.Children[1]
		const searchRequest = 3
		if op.ClassType != ber.ClassApplication || op.Tag != searchRequest || len(op.Children) < 8 {
			continue
		}
		s := loggedSearch{Base: op.Children[0].Data.String()}
		for _, a := range op.Children[7].Children {
			s.Attrs = append(s.Attrs, a.Data.String())
		}
		p.mu.Lock()
		p.searches = append(p.searches, s)
		p.mu.Unlock()
	}
}

// Searches returns the search requests seen so far.
func (p *searchLog) Searches() []loggedSearch {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]loggedSearch(nil), p.searches...)
}
