package main

import (
	"bytes"
	"context"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestDemoEndToEnd builds scimbridge, runs the demo for one second and checks
// it showed real answers: dave in engineers through nesting, engineers'
// nested members, and the admin status.
func TestDemoEndToEnd(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "scimbridge")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/scimbridge/scimbridge/cmd/scimbridge").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	var out bytes.Buffer
	if err := run(context.Background(), options{bin: bin, listen: "", seconds: 1, stdout: &out}); err != nil {
		t.Fatalf("demo: %v\n%s", err, out.String())
	}
	text := out.String()
	for _, want := range []string{
		`"status":"succeeded"`,
		"dave is in ",
		"engineers (indirect)",
		"sre (direct)",
		"engineers has members ",
		"backend (Group)",
		"$ GET /api/v1/status",
		"== live: add uid=newhire",
		"SCIM token:  ",
		"Admin token: ",
		"curl -s -H \"Authorization: Bearer ",
		"stopping",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("demo output lacks %q:\n%s", want, text)
		}
	}
	if !regexp.MustCompile(`-> newhire is in [^\n]*sre \(direct\)[^\n]*, served \d+ ms after the LDAP add`).MatchString(text) {
		t.Errorf("the new hire is not shown served live with its groups:\n%s", text)
	}
	if !regexp.MustCompile(`dave is in [^\n]*engineers \(indirect\)`).MatchString(text) {
		t.Errorf("dave is not shown in engineers as an indirect group:\n%s", text)
	}
}
