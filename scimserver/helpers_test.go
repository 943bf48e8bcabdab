package scimserver

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/scimbridge/scimbridge/store"
)

// testToken is the bearer token test servers accept (with testToken2).
const (
	testToken  = "tok-3f9a1c"
	testToken2 = "second-token"
)

// openStore opens a fresh state store in the test's temp dir.
func openStore(t testing.TB) *store.DB {
	t.Helper()
	db, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// serve mounts a SCIM handler on Echo at /scim/v2 and serves it on loopback.
// It returns the server's URL (without /scim/v2).
func serve(t testing.TB, st Reader, opts Options) string {
	t.Helper()
	if opts.Tokens == nil {
		opts.Tokens = []string{testToken, testToken2}
	}
	h, err := New(st, opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	e := echo.New()
	e.HideBanner = true
	Mount(e, h)
	ts := httptest.NewServer(e)
	t.Cleanup(ts.Close)
	return ts.URL
}

// response is one HTTP exchange's result.
type response struct {
	status int
	header http.Header
	raw    []byte
	body   map[string]any // decoded JSON object, nil if the body is empty
}

// call sends a request with the test token (unless headers set Authorization)
// and decodes the JSON answer. headers are name, value pairs.
func call(t testing.TB, method, url, body string, headers ...string) response {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = bytes.NewBufferString(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	req.Header.Set("Authorization", "Bearer "+testToken)
	if body != "" {
		req.Header.Set("Content-Type", "application/scim+json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		if headers[i+1] == "" {
			req.Header.Del(headers[i])
		} else {
			req.Header.Set(headers[i], headers[i+1])
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, url, err)
	}
	r := response{status: resp.StatusCode, header: resp.Header, raw: raw}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &r.body); err != nil {
			t.Fatalf("%s %s: body is not a JSON object: %v\n%s", method, url, err, raw)
		}
	}
	return r
}

// discardLogger drops log output.
func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
