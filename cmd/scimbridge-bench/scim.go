package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"time"

	"github.com/scimbridge/scimbridge/scimserver"
	"github.com/scimbridge/scimbridge/store"
)

// scimResult holds the SCIM server's measurements.
type scimResult struct {
	lookups            int
	p50, p99           time.Duration
	lookupsPerSec      float64
	concurrency        int
	walkTime           time.Duration
	walkUsers, walkReq int
}

// scimClient talks to the SCIM server on loopback with keep-alive connections.
type scimClient struct {
	base, token string
	hc          *http.Client
}

type listResponse struct {
	TotalResults int `json:"totalResults"`
	Resources    []struct {
		UserName string `json:"userName"`
	} `json:"Resources"`
}

func (c *scimClient) list(ctx context.Context, q url.Values) (*listResponse, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/Users?"+q.Encode(), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /Users?%s: %s: %s", q.Encode(), resp.Status, body)
	}
	var lr listResponse
	if err := json.Unmarshal(body, &lr); err != nil {
		return nil, fmt.Errorf("GET /Users?%s: %w", q.Encode(), err)
	}
	return &lr, nil
}

// lookup asks for one user by userName and checks the answer is that user.
func (c *scimClient) lookup(ctx context.Context, name string) error {
	lr, err := c.list(ctx, url.Values{"filter": {fmt.Sprintf("userName eq %q", name)}})
	if err != nil {
		return err
	}
	if lr.TotalResults != 1 || len(lr.Resources) != 1 || lr.Resources[0].UserName != name {
		return fmt.Errorf("userName eq %q: got %d results", name, lr.TotalResults)
	}
	return nil
}

// serveSCIM serves the store with scimserver's defaults on a loopback port,
// as `scimbridge serve` does, and returns a client for it with keep-alive
// connections and the given timeout.
func serveSCIM(db *store.DB, timeout time.Duration) (c *scimClient, stop func(), err error) {
	const token = "bench-scim-token-0123456789"
	h, err := scimserver.New(db, scimserver.Options{Tokens: []string{token}})
	if err != nil {
		return nil, nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, nil, fmt.Errorf("listen for the SCIM server: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle(scimserver.MountPath+"/", http.StripPrefix(scimserver.MountPath, h))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	tr := &http.Transport{MaxIdleConnsPerHost: 16}
	c = &scimClient{base: "http://" + ln.Addr().String() + scimserver.MountPath, token: token, hc: &http.Client{Transport: tr, Timeout: timeout}}
	return c, func() {
		srv.Close()
		tr.CloseIdleConnections()
	}, nil
}

// benchSCIM serves the store with scimserver on a loopback port and measures
// userName eq lookups (sequential for latency, concurrent for throughput) and
// a full paginated walk of /Users.
func benchSCIM(ctx context.Context, db *store.DB, d *directory, lookups int, seed uint64) (scimResult, error) {
	res := scimResult{lookups: lookups, concurrency: 4}
	c, stop, err := serveSCIM(db, 5*time.Minute)
	if err != nil {
		return res, err
	}
	defer stop()

	rng := rand.New(rand.NewPCG(seed, 0x5c13))
	names := make([]string, lookups)
	for i := range names {
		names[i] = d.userName(rng.IntN(d.n))
	}
	// Warm the connection and the store's read pool.
	for _, n := range names[:min(20, len(names))] {
		if err := c.lookup(ctx, n); err != nil {
			return res, err
		}
	}
	lat := make([]time.Duration, len(names))
	for i, n := range names {
		t0 := time.Now()
		if err := c.lookup(ctx, n); err != nil {
			return res, err
		}
		lat[i] = time.Since(t0)
	}
	slices.Sort(lat)
	res.p50, res.p99 = percentile(lat, 50), percentile(lat, 99)

	var wg sync.WaitGroup
	errs := make([]error, res.concurrency)
	t0 := time.Now()
	for w := range res.concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < len(names); i += res.concurrency {
				if err := c.lookup(ctx, names[i]); err != nil {
					errs[w] = err
					return
				}
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return res, err
	}
	res.lookupsPerSec = float64(len(names)) / time.Since(t0).Seconds()

	const page = 1000
	t0 = time.Now()
	for start := 1; ; start += page {
		lr, err := c.list(ctx, url.Values{"startIndex": {fmt.Sprint(start)}, "count": {fmt.Sprint(page)}})
		if err != nil {
			return res, err
		}
		res.walkReq++
		res.walkUsers += len(lr.Resources)
		if len(lr.Resources) == 0 || start+page > lr.TotalResults {
			break
		}
	}
	res.walkTime = time.Since(t0)
	if res.walkUsers != d.n {
		return res, fmt.Errorf("walk of /Users returned %d users, want %d", res.walkUsers, d.n)
	}
	return res, nil
}

// percentile returns the p-th percentile of sorted durations (nearest rank).
func percentile(sorted []time.Duration, p int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := (len(sorted)*p + 99) / 100
	return sorted[max(0, min(i, len(sorted))-1)]
}
