package console_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/accessibility"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/dom"
	"github.com/chromedp/cdproto/input"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/labstack/echo/v4"

	"github.com/scimbridge/scimbridge/adminapi"
	"github.com/scimbridge/scimbridge/bridge"
	"github.com/scimbridge/scimbridge/console"
	"github.com/scimbridge/scimbridge/internal/bridgetest"
	"github.com/scimbridge/scimbridge/internal/secret"
	"github.com/scimbridge/scimbridge/internal/settingsdoc"
	"github.com/scimbridge/scimbridge/internal/slapdtest"
	"github.com/scimbridge/scimbridge/ldapsource"
	"github.com/scimbridge/scimbridge/push"
	"github.com/scimbridge/scimbridge/scheduler"
	"github.com/scimbridge/scimbridge/schema"
	"github.com/scimbridge/scimbridge/store"
)

const (
	adminToken = "admin-token-4b7e2d9f"
	scimToken  = "scim-token-81c3a6e0"
	secretKey  = "8c1f0e3b5a7d9c2e4f6a8b0c1d3e5f7a9b1c3d5e7f9a0b2c4d6e8f0a1b3c5d7e"
	// pushToken is typed into the form's write-only "Push token".
	pushToken = "push-token-6f0d2c1a"
	// wrongPassword is typed into "Bind Credential" to fail the bind.
	wrongPassword = "wrong-password-93be"
)

// server is scimbridge's HTTP side as `scimbridge serve` wires it (admin API
// and console) over a real slapd, store, syncer and scheduler.
type server struct {
	slapd *slapdtest.Server
	db    *store.DB
	http  *httptest.Server
}

// serverOption changes how startServer sets the server up.
type serverOption func(*serverConfig)

type serverConfig struct {
	gate *bridgetest.Gate
	push bool
}

// withGate makes syncs wait at gate before reading users.
func withGate(g *bridgetest.Gate) serverOption { return func(c *serverConfig) { c.gate = g } }

// withPush gives the syncer and the admin API the real push client.
func withPush() serverOption { return func(c *serverConfig) { c.push = true } }

func startServer(t *testing.T, opts ...serverOption) *server {
	t.Helper()
	var cfg serverConfig
	for _, o := range opts {
		o(&cfg)
	}
	s := &server{slapd: slapdtest.Start(t)}
	db, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	s.db = db
	key, err := secret.ParseKey(secretKey)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	dial := bridge.Dialer(ldapsource.Dial)
	if cfg.gate != nil {
		dial = cfg.gate.Dialer(dial)
	}
	syncer := bridge.NewSyncer(db, dial, log)
	syncer.SetChangeDialer(ldapsource.DialChanges) // as serve does
	deps := adminapi.Deps{Key: key, Token: adminToken, SCIMTokens: []string{scimToken}, Logger: log, Store: db}
	if cfg.push {
		client := push.New(db, log)
		syncer.SetPusher(client)
		deps.Pusher = pushClient{client}
	}
	sched, err := scheduler.New(syncer, settingsdoc.Loader(db, key), log)
	if err != nil {
		t.Fatal(err)
	}
	sched.Start()
	deps.Scheduler = sched
	e := echo.New()
	e.HideBanner = true
	if err := adminapi.Register(e, deps); err != nil {
		t.Fatal(err)
	}
	console.Register(e)
	s.http = httptest.NewServer(e)
	t.Cleanup(func() {
		s.http.Close()
		if err := sched.Stop(); err != nil {
			t.Errorf("stop scheduler: %v", err)
		}
		db.Close()
	})
	return s
}

// saveLDAPSettings stores the settings for the server's slapd, LDAP still
// disabled, as a script would.
func (s *server) saveLDAPSettings(t *testing.T, edit ...func(*schema.Settings)) {
	t.Helper()
	st := s.slapd.Settings()
	st.Enabled = false
	for _, f := range edit {
		f(st)
	}
	doc, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	if code, body := bearer(t, s, "PUT", "/api/v1/settings", string(doc)); code != http.StatusOK {
		t.Fatalf("save settings: %d %v", code, body)
	}
}

// pushClient gives the admin API the push client, as serve does.
type pushClient struct{ c *push.Client }

func (p pushClient) TestPush(ctx context.Context, s *schema.Settings) adminapi.TestResult {
	return adminapi.TestResult(p.c.TestPush(ctx, s))
}

func (p pushClient) Deprovision(ctx context.Context, s *schema.Settings) (json.RawMessage, error) {
	return p.c.Deprovision(ctx, s)
}

func (p pushClient) PushCounts(ctx context.Context) (adminapi.PushCounts, error) {
	n, err := p.c.Counts(ctx)
	return adminapi.PushCounts(n), err
}

// testWriter sends the server's warnings to the test log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// browser is one headless Debian chromium, with every response the page
// received recorded.
type browser struct {
	t   *testing.T
	ctx context.Context
	// shots is where screenshots go.
	shots string

	mu        sync.Mutex
	responses []response
	// fetching counts the bodies still being fetched; fetched signals (on
	// mu) when it drops to 0. A sync.WaitGroup would be waited on while
	// chromium's events still Add to it, which the race detector reports.
	fetching  int
	fetched   *sync.Cond
	cookieReq map[network.RequestID]bool // requests that carried the session cookie
	// pageErrors are uncaught exceptions and console errors (a CSP
	// violation among them); failed requests are not: some are the test's.
	pageErrors []string
}

// response is one answer the page received.
type response struct {
	id     network.RequestID
	url    string
	status int64
	header network.Headers
	body   string
	// withCookie: the request carried the session cookie.
	withCookie bool
}

func startBrowser(t *testing.T) *browser {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatalf("chromium is not installed (deploy/install-deps.sh installs it): %v", err)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-features", "Translate,MediaRouter,OptimizationHints"),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	b := &browser{t: t, ctx: ctx, shots: screenshotDir(t), cookieReq: map[network.RequestID]bool{}}
	b.fetched = sync.NewCond(&b.mu)
	t.Cleanup(func() {
		b.waitFetched()
		cancel()
		cancelAlloc()
	})
	if err := chromedp.Listen(ctx, b.onEvent); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	if _, err := chromedp.Call(ctx, network.Enable, network.EnableParams{}); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(ctx, cdplog.Enable, cdp.Empty{}); err != nil {
		t.Fatal(err)
	}
	return b
}

// screenshotDir is $SCIMBRIDGE_ARTIFACTS/console, else a folder in the
// system's temporary directory that outlives the test.
func screenshotDir(t *testing.T) string {
	dir := os.Getenv("SCIMBRIDGE_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "scimbridge-artifacts")
	}
	dir = filepath.Join(dir, "console")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// onEvent records responses; bodies are fetched off the event loop.
func (b *browser) onEvent(ev any) {
	switch ev := ev.(type) {
	case *runtime.EventExceptionThrown:
		b.mu.Lock()
		b.pageErrors = append(b.pageErrors, ev.ExceptionDetails.Text+" "+ev.ExceptionDetails.URL)
		b.mu.Unlock()
	case *cdplog.EventEntryAdded:
		if ev.Entry.Level == cdplog.EntryLevelError && ev.Entry.Source != cdplog.EntrySourceNetwork {
			b.mu.Lock()
			b.pageErrors = append(b.pageErrors, string(ev.Entry.Source)+": "+ev.Entry.Text)
			b.mu.Unlock()
		}
	case *network.EventRequestWillBeSentExtraInfo:
		for _, c := range ev.AssociatedCookies {
			if c.Cookie != nil && c.Cookie.Name == adminapi.SessionCookie && len(c.BlockedReasons) == 0 {
				b.mu.Lock()
				b.cookieReq[ev.RequestID] = true
				b.mu.Unlock()
			}
		}
	case *network.EventResponseReceived:
		b.mu.Lock()
		b.responses = append(b.responses, response{id: ev.RequestID, url: ev.Response.URL, status: ev.Response.Status, header: ev.Response.Headers})
		i := len(b.responses) - 1
		b.fetching++
		b.mu.Unlock()
		id := ev.RequestID
		go func() {
			defer func() {
				b.mu.Lock()
				if b.fetching--; b.fetching == 0 {
					b.fetched.Broadcast()
				}
				b.mu.Unlock()
			}()
			// The body is there once loading finished; wait for it briefly.
			for range 50 {
				res, err := chromedp.Call(b.ctx, network.GetResponseBody, network.GetResponseBodyParams{RequestID: id})
				if err == nil {
					body := string(res.Body)
					if res.Base64encoded {
						raw, _ := base64.StdEncoding.DecodeString(body)
						body = string(raw)
					}
					b.mu.Lock()
					b.responses[i].body = body
					b.mu.Unlock()
					return
				}
				if b.ctx.Err() != nil {
					return
				}
				time.Sleep(20 * time.Millisecond)
			}
		}()
	}
}

// waitFetched waits until the bodies of the responses so far are fetched.
func (b *browser) waitFetched() {
	b.mu.Lock()
	defer b.mu.Unlock()
	for b.fetching > 0 {
		b.fetched.Wait()
	}
}

// received returns every response so far, bodies included.
func (b *browser) received() []response {
	b.waitFetched()
	b.mu.Lock()
	defer b.mu.Unlock()
	out := append([]response(nil), b.responses...)
	for i := range out {
		out[i].withCookie = b.cookieReq[out[i].id]
	}
	return out
}

// noPageErrors checks that the page threw nothing and logged no error: no
// script failed and the Content-Security-Policy blocked nothing.
func (b *browser) noPageErrors() {
	b.t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, e := range b.pageErrors {
		b.t.Errorf("page error: %s", e)
	}
}

// waitResponse waits for the first response from url.
func (b *browser) waitResponse(url string) response {
	b.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		for _, r := range b.received() {
			if r.url == url {
				return r
			}
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("no response from %s", url)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// sessionCookie is the browser's session cookie for the admin API of base.
func (b *browser) sessionCookie(base string) *network.Cookie {
	b.t.Helper()
	res, err := chromedp.Call(b.ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{base + adminapi.Prefix + "/status"}})
	if err != nil {
		b.t.Fatal(err)
	}
	for _, c := range res.Cookies {
		if c.Name == adminapi.SessionCookie {
			return c
		}
	}
	b.t.Fatalf("no %s cookie: %v", adminapi.SessionCookie, res.Cookies)
	return nil
}

func (b *browser) do(steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, steps...); err != nil {
		b.t.Fatal(err)
	}
}

// find waits for the one element with this ARIA role and accessible name,
// as assistive technology sees the page.
func (b *browser) find(role, name string) cdp.BackendNodeID {
	b.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ids, err := b.query(role, name)
		if err == nil && len(ids) == 1 {
			return ids[0]
		}
		if len(ids) > 1 {
			b.t.Fatalf("%d elements with role %s named %q", len(ids), role, name)
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("no visible element with role %s named %q (%v)", role, name, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// query lists the elements with this role and name that are shown now. A
// navigation in between is an error: the caller asks again.
func (b *browser) query(role, name string) ([]cdp.BackendNodeID, error) {
	doc, err := chromedp.Call(b.ctx, dom.GetDocument, dom.GetDocumentParams{})
	if err != nil {
		return nil, err
	}
	res, err := chromedp.Call(b.ctx, accessibility.QueryAXTree, accessibility.QueryAXTreeParams{
		NodeID: doc.Root.NodeID, AccessibleName: name, Role: role,
	})
	if err != nil {
		return nil, err
	}
	var ids []cdp.BackendNodeID
	for _, n := range res.Nodes {
		if !n.Ignored {
			ids = append(ids, n.BackendDOMNodeID)
		}
	}
	return ids, nil
}

// present says whether an element with this role and name is shown now.
func (b *browser) present(role, name string) bool {
	b.t.Helper()
	ids, err := b.query(role, name)
	if err != nil {
		b.t.Fatal(err)
	}
	return len(ids) > 0
}

// on calls the JavaScript function fn with the element as this and decodes
// its result into out (nil: ignore it).
func (b *browser) on(id cdp.BackendNodeID, fn string, out any) {
	b.t.Helper()
	obj, err := chromedp.Call(b.ctx, dom.ResolveNode, dom.ResolveNodeParams{BackendNodeID: id})
	if err != nil {
		b.t.Fatal(err)
	}
	yes := true
	res, err := chromedp.Call(b.ctx, runtime.CallFunctionOn, runtime.CallFunctionOnParams{
		FunctionDeclaration: fn, ObjectID: obj.Object.ObjectID, ReturnByValue: &yes,
	})
	if err != nil {
		b.t.Fatal(err)
	}
	if res.ExceptionDetails != nil {
		b.t.Fatalf("%s: %s", fn, res.ExceptionDetails.Text)
	}
	if out != nil {
		if err := json.Unmarshal([]byte(res.Result.Value), out); err != nil {
			b.t.Fatalf("%s: %v", fn, err)
		}
	}
}

func (b *browser) focus(id cdp.BackendNodeID) {
	b.t.Helper()
	if _, err := chromedp.Call(b.ctx, dom.Focus, dom.FocusParams{BackendNodeID: id}); err != nil {
		b.t.Fatal(err)
	}
}

// fill types text into the textbox named name, replacing what it held.
func (b *browser) fill(name, text string) {
	b.t.Helper()
	id := b.find("textbox", name)
	b.focus(id)
	b.on(id, "function() { this.select(); }", nil)
	if text == "" {
		b.do(chromedp.KeyEvent("\b"))
		return
	}
	if _, err := chromedp.Call(b.ctx, input.InsertText, input.InsertTextParams{Text: text}); err != nil {
		b.t.Fatal(err)
	}
}

// toggle ticks or clears the checkbox named name from the keyboard.
func (b *browser) toggle(name string) {
	b.t.Helper()
	b.focus(b.find("checkbox", name))
	b.do(chromedp.KeyEvent(" "))
}

// press activates the button named name from the keyboard.
func (b *browser) press(name string) {
	b.t.Helper()
	b.focus(b.find("button", name))
	b.do(chromedp.KeyEvent("\r"))
}

// result presses the button named button and returns the settled message of
// the status element named status. The status is emptied first, so the
// message is the press's own.
func (b *browser) result(button, status string) string {
	b.t.Helper()
	b.on(b.find("status", status), "function() { this.textContent = ''; }", nil)
	b.press(button)
	return b.status(status)
}

// signIn signs in with the admin token from the sign-in form.
func (b *browser) signIn() {
	b.t.Helper()
	b.fill("Admin token", adminToken)
	b.press("Sign in")
	b.find("heading", "LDAP settings")
}

// openSignedIn opens the console of srv and signs in.
func (b *browser) openSignedIn(srv *server) {
	b.t.Helper()
	b.do(chromedp.Navigate(srv.http.URL + "/"))
	b.signIn()
}

// activeLabel is the label of the focused control, or its text.
func (b *browser) activeLabel() string {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](`(() => {
		const e = document.activeElement;
		return (e.labels && e.labels.length ? e.labels[0] : e).textContent.trim();
	})()`))
	if err != nil {
		b.t.Fatal(err)
	}
	return v
}

// value is the current value of a form control.
func (b *browser) value(role, name string) string {
	b.t.Helper()
	var v string
	b.on(b.find(role, name), "function() { return this.value; }", &v)
	return v
}

// text is the text an element shows.
func (b *browser) text(role, name string) string {
	b.t.Helper()
	var v string
	b.on(b.find(role, name), "function() { return this.innerText.trim(); }", &v)
	return v
}

// description is what an element's aria-describedby elements say.
func (b *browser) description(role, name string) string {
	b.t.Helper()
	var v string
	b.on(b.find(role, name), `function() {
		return (this.getAttribute("aria-describedby") || "").split(" ").filter(Boolean)
			.map((id) => document.getElementById(id).textContent.trim()).filter(Boolean).join(" | ");
	}`, &v)
	return v
}

// status waits until the status element named name shows a settled
// message (not empty, not ending in "…") and returns it.
func (b *browser) status(name string) string {
	b.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		s := b.text("status", name)
		if s != "" && !strings.HasSuffix(s, "…") {
			return s
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("status %q still says %q after 30 s", name, s)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitText waits until the status element named name says want.
func (b *browser) waitText(name, want string) {
	b.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		s := b.text("status", name)
		if s == want {
			return
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("status %q says %q, want %q", name, s, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// tableRows is the text of each cell of each body row of a table.
func (b *browser) tableRows(name string) [][]string {
	b.t.Helper()
	var rows [][]string
	b.on(b.find("table", name), `function() {
		return [...this.tBodies[0].rows].map((r) => [...r.cells].map((c) => c.innerText.trim()));
	}`, &rows)
	return rows
}

// terms is the description list with this id as term → definition.
func (b *browser) terms(id string) map[string]string {
	b.t.Helper()
	out, err := chromedp.Run(b.ctx, chromedp.Evaluate[map[string]string](`(() => {
		const o = {};
		for (const dt of document.getElementById(`+strconv.Quote(id)+`).querySelectorAll("dt")) o[dt.textContent] = dt.nextElementSibling.textContent;
		return o;
	})()`))
	if err != nil {
		b.t.Fatal(err)
	}
	return out
}

// textOf is the text of the element with this id.
func (b *browser) textOf(id string) string {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](`document.getElementById(`+strconv.Quote(id)+`).innerText.trim()`))
	if err != nil {
		b.t.Fatal(err)
	}
	return v
}

// checked says whether the checkbox named name is ticked.
func (b *browser) checked(name string) bool {
	b.t.Helper()
	var v bool
	b.on(b.find("checkbox", name), "function() { return this.checked; }", &v)
	return v
}

// invalid says whether a control is marked aria-invalid.
func (b *browser) invalid(role, name string) bool {
	b.t.Helper()
	var v bool
	b.on(b.find(role, name), `function() { return this.getAttribute("aria-invalid") === "true"; }`, &v)
	return v
}

// pageText is all the page holds: its HTML and the value of every control.
func (b *browser) pageText() string {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](`document.documentElement.outerHTML + "\n" +
		[...document.querySelectorAll("input, textarea, select")].map((e) => e.value).join("\n")`))
	if err != nil {
		b.t.Fatal(err)
	}
	return v
}

// shot writes a PNG of the whole page, or with viewOnly of what the window
// shows.
func (b *browser) shot(name string, viewOnly bool) {
	b.t.Helper()
	capture := chromedp.FullScreenshot(100)
	if viewOnly {
		capture = chromedp.CaptureScreenshot()
	}
	png, err := chromedp.Run(b.ctx, capture)
	if err != nil {
		b.t.Fatal(err)
	}
	path := filepath.Join(b.shots, name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		b.t.Fatal(err)
	}
	b.t.Logf("screenshot %s", path)
}

// shotBoth writes the whole page at 390 px and at 1280 px wide.
func (b *browser) shotBoth(name string) {
	b.t.Helper()
	b.do(chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(1)))
	// Readable at 390 px: nothing but a table's own scroller is wider.
	if w, err := chromedp.Run(b.ctx, chromedp.Evaluate[int]("document.documentElement.scrollWidth")); err != nil || w != 390 {
		b.t.Errorf("%s: the page is %d px wide at a 390 px viewport (%v)", name, w, err)
	}
	b.shot(name+"-390", false)
	b.do(chromedp.EmulateViewport(1280, 900))
	b.shot(name+"-1280", false)
}

// shotAt writes what a window of w×h px shows with the element named
// (role, name) at its top: the view a person has, not the whole page.
func (b *browser) shotAt(file string, w, h int64, role, name string) {
	b.t.Helper()
	b.do(chromedp.EmulateViewport(w, h))
	b.on(b.find(role, name), `function() { this.scrollIntoView({block: "start"}); }`, nil)
	b.shot(file, true)
	b.do(chromedp.EmulateViewport(1280, 900))
}

func (b *browser) noSecrets(secrets map[string]string) {
	b.t.Helper()
	dom := b.pageText()
	for what, s := range secrets {
		if strings.Contains(dom, s) {
			b.t.Errorf("the page holds the %s", what)
		}
	}
}

// bearer calls the admin API as a script would, with an optional JSON body.
func bearer(t *testing.T, s *server, method, path string, body ...string) (int, map[string]any) {
	t.Helper()
	return call(t, s, method, path, func(r *http.Request) {
		r.Header.Set("Authorization", "Bearer "+adminToken)
		if len(body) > 0 {
			r.Body = io.NopCloser(strings.NewReader(body[0]))
			r.Header.Set("Content-Type", "application/json")
		}
	})
}

func call(t *testing.T, s *server, method, path string, prep func(*http.Request)) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, s.http.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	prep(req)
	res, err := s.http.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var body map[string]any
	if err := json.NewDecoder(res.Body).Decode(&body); err != nil && !errors.Is(err, io.EOF) {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	return res.StatusCode, body
}
