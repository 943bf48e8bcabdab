// Command scimbridge-demo shows scimbridge end to end on a throwaway
// directory (`make demo`): it starts a slapd holding testdata/ldif/base.ldif
// (users and nested groups), syncs it with `scimbridge sync`, serves it with
// `scimbridge serve` and prints a few real SCIM and admin API answers, the
// generated tokens and ready-to-paste curl commands. slapd runs the syncprov
// overlay and the settings turn sync.live on: the demo adds a new hire in
// LDAP and shows it served by /scim/v2, nested groups resolved, moments later. It serves until Ctrl-C,
// then removes slapd and every temporary file.
//
// Usage:
//
//	scimbridge-demo [-bin bin/scimbridge] [-listen 127.0.0.1:8080]
//
// Environment: DEMO_SECONDS=N stops by itself after N seconds (scripted runs).
// SCIMBRIDGE_PUSH_URL and SCIMBRIDGE_PUSH_TOKEN, when both are set, add a
// push section (profile SCIMBRIDGE_PUSH_PROFILE, default rfc) so every sync
// is pushed to that SCIM service provider.
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/scimbridge/scimbridge/internal/slapdtest"
)

func main() {
	bin := flag.String("bin", "bin/scimbridge", "the scimbridge binary (make build)")
	listen := flag.String("listen", "127.0.0.1:8080", "where serve listens; a free port is used when it is taken")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	opts := options{bin: *bin, listen: *listen, stdout: os.Stdout,
		pushURL: os.Getenv("SCIMBRIDGE_PUSH_URL"), pushToken: os.Getenv("SCIMBRIDGE_PUSH_TOKEN"), pushProfile: os.Getenv("SCIMBRIDGE_PUSH_PROFILE")}
	if v := os.Getenv("DEMO_SECONDS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			fmt.Fprintf(os.Stderr, "scimbridge-demo: DEMO_SECONDS=%q: want a number of seconds\n", v)
			os.Exit(2)
		}
		opts.seconds = n
	}
	if err := run(ctx, opts); err != nil {
		fmt.Fprintln(os.Stderr, "scimbridge-demo:", err)
		os.Exit(1)
	}
}

// options configures one demo.
type options struct {
	bin    string // scimbridge binary
	listen string // preferred listen address; "" picks a free port
	// seconds > 0 stops the demo after that long; 0 waits for ctx.
	seconds                         int
	pushURL, pushToken, pushProfile string
	stdout                          io.Writer
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

// run is the whole demo; everything it starts is stopped and removed when it returns.
func run(ctx context.Context, o options) error {
	out := o.stdout
	bin, err := filepath.Abs(o.bin)
	if err != nil {
		return err
	}
	if _, err := os.Stat(bin); err != nil {
		return fmt.Errorf("scimbridge binary: %w (build it with `make build`)", err)
	}
	tmp, err := os.MkdirTemp("", "scimbridge-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	slapdDir := filepath.Join(tmp, "slapd")
	if err := os.Mkdir(slapdDir, 0o700); err != nil {
		return err
	}
	srv, err := slapdtest.Launch(slapdDir, slapdtest.WithSyncprov())
	if err != nil {
		return err
	}
	defer srv.Close()
	fmt.Fprintf(out, "== slapd with testdata/ldif/base.ldif at %s (base %s)\n", srv.URL, srv.BaseDN)

	settings := srv.Settings()
	settings.Sync.Live = true
	if o.pushURL != "" && o.pushToken != "" {
		settings.Push.Enabled = true
		settings.Push.URL, settings.Push.Token = o.pushURL, o.pushToken
		if o.pushProfile != "" {
			settings.Push.Profile = o.pushProfile
		}
		fmt.Fprintf(out, "== push enabled: %s (profile %s)\n", o.pushURL, settings.Push.Profile)
	}
	settingsFile := filepath.Join(tmp, "settings.json")
	if err := writeJSON(settingsFile, settings); err != nil {
		return err
	}
	db := filepath.Join(tmp, "state.db")
	scimToken, adminToken, key := randomHex(16), randomHex(16), randomHex(32)
	env := append(os.Environ(), "SCIMBRIDGE_SCIM_TOKEN="+scimToken, "SCIMBRIDGE_ADMIN_TOKEN="+adminToken,
		"SCIMBRIDGE_SECRET_KEY="+key, "SCIMBRIDGE_LOG_LEVEL=warn")

	fmt.Fprintf(out, "\n$ scimbridge sync --settings %s --db %s\n", settingsFile, db)
	syncCmd := exec.CommandContext(ctx, bin, "sync", "--settings", settingsFile, "--db", db)
	syncCmd.Env = env
	var syncErr bytes.Buffer
	syncCmd.Stderr = &syncErr
	line, err := syncCmd.Output()
	if err != nil {
		return fmt.Errorf("scimbridge sync: %w: %s", err, bytes.TrimSpace(syncErr.Bytes()))
	}
	out.Write(line)

	addr, err := pickAddr(o.listen)
	if err != nil {
		return err
	}
	logFile := filepath.Join(tmp, "serve.log")
	logw, err := os.Create(logFile)
	if err != nil {
		return err
	}
	defer logw.Close()
	fmt.Fprintf(out, "\n$ scimbridge serve --settings %s --db %s --listen %s\n", settingsFile, db, addr)
	serve := exec.Command(bin, "serve", "--settings", settingsFile, "--db", db, "--listen", addr)
	serve.Env, serve.Stdout, serve.Stderr = env, logw, logw
	serve.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := serve.Start(); err != nil {
		return fmt.Errorf("start scimbridge serve: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- serve.Wait() }()
	defer func() {
		_ = serve.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(15 * time.Second):
			_ = serve.Process.Kill()
			<-exited
		}
	}()
	base := "http://" + addr
	if err := waitReady(ctx, base, exited, logFile); err != nil {
		return err
	}

	c := &client{base: base, hc: &http.Client{Timeout: 30 * time.Second}}
	daveQ := "/scim/v2/Users?filter=" + url.QueryEscape(`userName eq "dave"`)
	engQ := "/scim/v2/Groups?filter=" + url.QueryEscape(`displayName eq "engineers"`)
	dave, err := c.get(daveQ, scimToken)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "\n$ GET %s\n%s\n", daveQ, dave)
	fmt.Fprintf(out, "-> %s\n", describeUser(dave))
	eng, err := c.get(engQ, scimToken)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "\n$ GET %s\n%s\n", engQ, eng)
	fmt.Fprintf(out, "-> %s\n", describeGroup(eng))
	status, err := c.get("/api/v1/status", adminToken)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "\n$ GET /api/v1/status\n%s\n", status)

	if err := showLive(ctx, out, c, srv, scimToken); err != nil {
		return err
	}

	fmt.Fprintf(out, `
== scimbridge is serving at %[1]s (log: %[5]s)
Admin console: open %[1]s/ in a browser and sign in with the admin token.
SCIM token:  %[2]s
Admin token: %[3]s
Secret key:  %[4]s

curl -s -H "Authorization: Bearer %[2]s" '%[1]s/scim/v2/Users?filter=userName%%20eq%%20%%22dave%%22'
curl -s -H "Authorization: Bearer %[2]s" '%[1]s/scim/v2/Groups?filter=displayName%%20eq%%20%%22engineers%%22'
curl -s -H "Authorization: Bearer %[2]s" '%[1]s/scim/v2/Users?startIndex=1&count=100'
curl -s -H "Authorization: Bearer %[3]s" %[1]s/api/v1/status
curl -s -H "Authorization: Bearer %[3]s" %[1]s/api/v1/sync/runs
curl -s -X POST -H "Authorization: Bearer %[3]s" %[1]s/api/v1/sync
ldapsearch -x -H %[6]s -D '%[7]s' -w '%[8]s' -b %[9]s '(objectClass=*)'

`, base, scimToken, adminToken, key, logFile, srv.URL, srv.AdminDN, srv.AdminPassword, srv.BaseDN)
	var timeout <-chan time.Time
	if o.seconds > 0 {
		fmt.Fprintf(out, "Stopping by itself in %d s (DEMO_SECONDS).\n", o.seconds)
		timeout = time.After(time.Duration(o.seconds) * time.Second)
	} else {
		fmt.Fprintln(out, "Press Ctrl-C to stop; slapd and every temporary file are removed.")
	}
	select {
	case <-ctx.Done():
	case <-timeout:
	case err := <-exited:
		exited <- err
		return fmt.Errorf("scimbridge serve exited: %v; log: %s", err, tail(logFile))
	}
	fmt.Fprintln(out, "stopping")
	return nil
}

func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o600)
}

// pickAddr returns want when it is free, else (or for port 0) a free loopback port.
func pickAddr(want string) (string, error) {
	if _, port, err := net.SplitHostPort(want); err == nil && port != "0" {
		if l, err := net.Listen("tcp", want); err == nil {
			l.Close()
			return want, nil
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// waitReady polls /healthz until serve answers.
func waitReady(ctx context.Context, base string, exited chan error, logFile string) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(base + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case err := <-exited:
			exited <- err
			return fmt.Errorf("scimbridge serve exited at start: %v; log: %s", err, tail(logFile))
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("scimbridge serve not ready after 30s; log: %s", tail(logFile))
		}
	}
}

func tail(path string) string {
	b, _ := os.ReadFile(path)
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return strings.TrimSpace(string(b))
}

type client struct {
	base string
	hc   *http.Client
}

// get returns the indented JSON answer of a GET that must succeed.
func (c *client) get(path, token string) (string, error) {
	req, err := http.NewRequest(http.MethodGet, c.base+path, nil)
	if err != nil {
		return "", err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := c.hc.Do(req)
	if err != nil {
		return "", fmt.Errorf("GET %s: %w", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", fmt.Errorf("GET %s: %w", path, err)
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GET %s: %s: %s", path, resp.Status, body)
	}
	var buf bytes.Buffer
	if err := json.Indent(&buf, body, "", "  "); err != nil {
		return "", fmt.Errorf("GET %s: %w", path, err)
	}
	return buf.String(), nil
}

// describeUser sums up the first user of a list answer: its groups and how.
func describeUser(list string) string {
	var lr struct {
		Resources []struct {
			UserName string `json:"userName"`
			Groups   []struct {
				Display string `json:"display"`
				Type    string `json:"type"`
			} `json:"groups"`
		} `json:"Resources"`
	}
	if err := json.Unmarshal([]byte(list), &lr); err != nil || len(lr.Resources) == 0 {
		return "no such user"
	}
	u := lr.Resources[0]
	var parts []string
	for _, g := range u.Groups {
		parts = append(parts, g.Display+" ("+g.Type+")")
	}
	return u.UserName + " is in " + strings.Join(parts, ", ")
}

// describeGroup sums up the first group of a list answer: its direct members.
func describeGroup(list string) string {
	var lr struct {
		Resources []struct {
			DisplayName string `json:"displayName"`
			Members     []struct {
				Display string `json:"display"`
				Type    string `json:"type"`
			} `json:"members"`
		} `json:"Resources"`
	}
	if err := json.Unmarshal([]byte(list), &lr); err != nil || len(lr.Resources) == 0 {
		return "no such group"
	}
	g := lr.Resources[0]
	var parts []string
	for _, m := range g.Members {
		parts = append(parts, m.Display+" ("+m.Type+")")
	}
	return g.DisplayName + " has members " + strings.Join(parts, ", ")
}

// showLive adds a new hire to the directory, in sre (nested in platform,
// backend and engineers), and waits for the live stream to serve it.
func showLive(ctx context.Context, out io.Writer, c *client, srv *slapdtest.Server, scimToken string) error {
	l, err := ldap.DialURL(srv.URL)
	if err != nil {
		return fmt.Errorf("live: dial slapd: %w", err)
	}
	defer l.Close()
	if err := l.Bind(srv.AdminDN, srv.AdminPassword); err != nil {
		return fmt.Errorf("live: bind to slapd: %w", err)
	}
	dn := "uid=newhire," + slapdtest.PeopleDN
	add := ldap.NewAddRequest(dn, nil)
	add.Attribute("objectClass", []string{"inetOrgPerson"})
	add.Attribute("uid", []string{"newhire"})
	add.Attribute("cn", []string{"New Hire"})
	add.Attribute("sn", []string{"Hire"})
	add.Attribute("mail", []string{"newhire@example.com"})
	mod := ldap.NewModifyRequest("cn=sre,"+slapdtest.GroupsDN, nil)
	mod.Add("member", []string{dn})
	fmt.Fprintf(out, "\n== live: add %s in LDAP and make it a member of sre\n", dn)
	began := time.Now()
	if err := l.Add(add); err != nil {
		return fmt.Errorf("live: add %s: %w", dn, err)
	}
	if err := l.Modify(mod); err != nil {
		return fmt.Errorf("live: add %s to sre: %w", dn, err)
	}
	q := "/scim/v2/Users?filter=" + url.QueryEscape(`userName eq "newhire"`)
	deadline := time.Now().Add(15 * time.Second)
	for {
		list, err := c.get(q, scimToken)
		if err != nil {
			return err
		}
		if d := describeUser(list); strings.Contains(d, "engineers (indirect)") {
			fmt.Fprintf(out, "$ GET %s\n-> %s, served %d ms after the LDAP add (sync.live, syncrepl)\n",
				q, d, time.Since(began).Milliseconds())
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("live: newhire not served with its groups within 15 s of the LDAP add; last answer: %s", list)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}
