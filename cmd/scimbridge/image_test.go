package main

import (
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/scimbridge/scimbridge/internal/slapdtest"
)

// dockerfile is the image's recipe, read as the test needs it.
type dockerfile struct {
	buildRuns  []string // RUN lines of the build stage that write /rootfs
	runtime    []string // instructions of the runtime stage
	uid, gid   uint32
	env        []string
	workdir    string
	entrypoint []string
	cmd        []string
}

// parseDockerfile reads deploy/Dockerfile: continuation lines joined, the
// build stage's RUN lines that fill /rootfs, and the runtime stage.
func parseDockerfile(t *testing.T) dockerfile {
	t.Helper()
	b, err := os.ReadFile("../../deploy/Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	text := strings.ReplaceAll(string(b), "\\\n", " ")
	var d dockerfile
	stage := 0
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		instr, rest, _ := strings.Cut(line, " ")
		if instr == "FROM" {
			stage++
			if stage == 2 {
				d.runtime = append(d.runtime, line)
			}
			continue
		}
		switch {
		case stage == 1 && instr == "RUN" && strings.Contains(rest, "/rootfs"):
			d.buildRuns = append(d.buildRuns, rest)
		case stage == 2:
			d.runtime = append(d.runtime, line)
			switch instr {
			case "USER":
				u, g, _ := strings.Cut(rest, ":")
				uid, err1 := strconv.Atoi(u)
				gid, err2 := strconv.Atoi(g)
				if err1 != nil || err2 != nil {
					t.Fatalf("USER %q: want numeric uid:gid", rest)
				}
				d.uid, d.gid = uint32(uid), uint32(gid)
			case "ENV":
				d.env = append(d.env, strings.Fields(rest)...)
			case "WORKDIR":
				d.workdir = rest
			case "ENTRYPOINT":
				if err := json.Unmarshal([]byte(rest), &d.entrypoint); err != nil {
					t.Fatalf("ENTRYPOINT %q: %v", rest, err)
				}
			case "CMD":
				if err := json.Unmarshal([]byte(rest), &d.cmd); err != nil {
					t.Fatalf("CMD %q: %v", rest, err)
				}
			}
		}
	}
	return d
}

func TestDockerfileFollowsTheIssue(t *testing.T) {
	d := parseDockerfile(t)
	build := strings.Join(d.buildRuns, "\n")
	for _, want := range []string{"CGO_ENABLED=0 go build", "-trimpath", "-X main.version=${VERSION}", "./cmd/scimbridge"} {
		if !strings.Contains(build, want) {
			t.Errorf("the build stage's go build lacks %q:\n%s", want, build)
		}
	}
	// The runtime stage is the builder's /rootfs and nothing else, so the
	// test below runs exactly the image's files.
	want := []string{"FROM scratch", "COPY --from=build /rootfs /"}
	for i, w := range want {
		if i >= len(d.runtime) || d.runtime[i] != w {
			t.Fatalf("runtime stage starts %q, want %q", d.runtime, want)
		}
	}
	for _, l := range d.runtime[2:] {
		if strings.HasPrefix(l, "COPY") || strings.HasPrefix(l, "ADD") || strings.HasPrefix(l, "RUN") || strings.HasPrefix(l, "HEALTHCHECK") {
			t.Errorf("runtime stage has %q: only the /rootfs copy may add files, and probes belong to the orchestrator", l)
		}
	}
	if d.uid != 65532 || d.gid != 65532 {
		t.Errorf("USER %d:%d, want 65532:65532", d.uid, d.gid)
	}
	if !strings.Contains(strings.Join(d.runtime, "\n"), "EXPOSE 8080") || !strings.Contains(strings.Join(d.runtime, "\n"), "VOLUME /data") {
		t.Errorf("runtime stage lacks EXPOSE 8080 or VOLUME /data: %q", d.runtime)
	}
}

// TestImageContentsSuffice builds the image's root filesystem with the
// Dockerfile's own RUN lines (its go build flags, CA certificates, tzdata,
// passwd, /data), then runs its ENTRYPOINT and CMD chrooted there as its
// USER with its ENV, nothing else: serve syncs a real slapd on loopback and
// answers /readyz. No container engine is needed.
func TestImageContentsSuffice(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("chroot needs root; make test and CI run as root")
	}
	d := parseDockerfile(t)
	root := filepath.Join(t.TempDir(), "rootfs")
	repo := buildContext(t)
	// The temporary directory is 0700 root: uid 65532 must reach /data.
	if err := os.Chmod(filepath.Dir(root), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, run := range d.buildRuns {
		script := strings.ReplaceAll(run, "/rootfs", root)
		script = strings.ReplaceAll(script, "${VERSION}", "image-test")
		cmd := exec.Command("sh", "-ec", script)
		cmd.Dir = repo
		cmd.Env = append(os.Environ(), "PATH=/usr/local/go/bin:"+os.Getenv("PATH"))
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("RUN %s: %v\n%s", run, err, out)
		}
	}
	if err := os.Chmod(root, 0o755); err != nil {
		t.Fatal(err)
	}
	// The binary is static: no loader, no libc in the image.
	if out, err := exec.Command("file", filepath.Join(root, "usr/local/bin/scimbridge")).CombinedOutput(); err == nil &&
		!strings.Contains(string(out), "statically linked") {
		t.Fatalf("the binary is not static: %s", out)
	}

	srv := slapdtest.Start(t)
	settings, err := json.Marshal(srv.Settings())
	if err != nil {
		t.Fatal(err)
	}
	// The settings file is what a ConfigMap mounts; it is not part of the image.
	if err := os.MkdirAll(filepath.Join(root, "etc/scimbridge"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "etc/scimbridge/settings.json"), settings, 0o644); err != nil {
		t.Fatal(err)
	}

	addr := freePort(t)
	args := append(append([]string{}, d.entrypoint...), d.cmd...)
	args = append(args, "--settings", "/etc/scimbridge/settings.json")
	cmd := &exec.Cmd{Path: d.entrypoint[0], Args: args, Dir: d.workdir}
	cmd.Env = append(append([]string{}, d.env...), "SCIMBRIDGE_LISTEN="+addr,
		"SCIMBRIDGE_SCIM_TOKEN=scim-token", "SCIMBRIDGE_ADMIN_TOKEN=admin-token",
		"SCIMBRIDGE_SECRET_KEY="+strings.Repeat("0f", 32))
	cmd.SysProcAttr = &syscall.SysProcAttr{Chroot: root,
		Credential: &syscall.Credential{Uid: d.uid, Gid: d.gid, Groups: []uint32{}}}
	logs := newLogFile(t)
	cmd.Stdout, cmd.Stderr = logs.f, logs.f
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
	})

	deadline := time.Now().Add(30 * time.Second)
	var status map[string]any
	for {
		code, body := getJSON(t, "http://"+addr+"/api/v1/status", "admin-token")
		status = body
		if code == 200 && body["users"] == 9.0 {
			break
		}
		select {
		case err := <-done:
			t.Fatalf("serve ended: %v\n%s", err, logs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no synced users after 30 s: %v\n%s", body, logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	if status["groups"] != 8.0 {
		t.Errorf("status after the sync: %v", status)
	}
	if code, body := getJSON(t, "http://"+addr+"/readyz", ""); code != 200 || body["status"] != "ready" {
		t.Fatalf("/readyz: %d %v", code, body)
	}
	code, body := getJSON(t, "http://"+addr+`/scim/v2/Users?filter=userName%20eq%20%22dave%22`, "scim-token")
	if code != 200 || body["totalResults"] != 1.0 {
		t.Fatalf("SCIM lookup: %d %v", code, body)
	}
	// The store was written as the image's user, in the image's /data.
	fi, err := os.Stat(filepath.Join(root, "data/scimbridge.db"))
	if err != nil {
		t.Fatal(err)
	}
	if st := fi.Sys().(*syscall.Stat_t); st.Uid != d.uid {
		t.Errorf("data/scimbridge.db owned by %d, want %d", st.Uid, d.uid)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("serve after SIGTERM: %v\n%s", err, logs.String())
	}
	done <- nil // for the cleanup
	if !regexp.MustCompile(`"version":"image-test"`).MatchString(logs.String()) {
		t.Errorf("the ldflags version stamp is missing from the start log:\n%s", logs.String())
	}
}

// buildContext copies what a container build sees into a new directory:
// the repository's files less those .dockerignore excludes, so a needed file
// that it excludes fails the build here as it would in the engine.
func buildContext(t *testing.T) string {
	t.Helper()
	ignore, err := os.ReadFile("../../.dockerignore")
	if err != nil {
		t.Fatal(err)
	}
	var patterns []string
	for _, l := range strings.Split(string(ignore), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			patterns = append(patterns, l)
		}
	}
	out, err := exec.Command("git", "-C", "../..", "ls-files", "--cached", "--others", "--exclude-standard").Output()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "context")
	for _, f := range strings.Fields(string(out)) {
		if dockerIgnored(f, patterns) {
			continue
		}
		b, err := os.ReadFile(filepath.Join("../..", f))
		if errors.Is(err, os.ErrNotExist) {
			continue // deleted in the work tree
		} else if err != nil {
			t.Fatal(err)
		}
		dst := filepath.Join(dir, f)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// dockerIgnored says whether a .dockerignore pattern excludes path: a
// pattern matches the path or one of its parent directories, and a leading
// "**/" matches at any depth. (No "!" exceptions: the file has none.)
func dockerIgnored(path string, patterns []string) bool {
	parts := strings.Split(path, "/")
	for _, p := range patterns {
		anyDepth := strings.HasPrefix(p, "**/")
		p = strings.TrimPrefix(p, "**/")
		for end := 1; end <= len(parts); end++ {
			for start := 0; start < end; start++ {
				if start > 0 && !anyDepth {
					break
				}
				if ok, _ := filepath.Match(p, strings.Join(parts[start:end], "/")); ok {
					return true
				}
			}
		}
	}
	return false
}

// getJSON sends a GET with a bearer token (none when empty) and decodes the
// JSON answer; code 0 means no answer.
func getJSON(t *testing.T, url, token string) (int, map[string]any) {
	t.Helper()
	code, b := do(t, http.MethodGet, url, token)
	var body map[string]any
	_ = json.Unmarshal(b, &body)
	return code, body
}

// logFile takes a process's output; String reads what it wrote so far.
type logFile struct{ f *os.File }

func newLogFile(t *testing.T) logFile {
	t.Helper()
	f, err := os.Create(filepath.Join(t.TempDir(), "process.log"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return logFile{f}
}

func (l logFile) String() string {
	b, _ := os.ReadFile(l.f.Name())
	return string(b)
}
