package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// copyDeploy copies deploy/kubernetes and deploy/helm into a new repository
// root, with edit applied to one file (path relative to the root).
func copyDeploy(t *testing.T, file, old, new string) string {
	t.Helper()
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "deploy"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"kubernetes", "helm"} {
		if out, err := exec.Command("cp", "-r", filepath.Join("..", d), filepath.Join(root, "deploy", d)).CombinedOutput(); err != nil {
			t.Fatalf("cp: %v %s", err, out)
		}
	}
	if file != "" {
		p := filepath.Join(root, file)
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), old) {
			t.Fatalf("%s has no %q", file, old)
		}
		if err := os.WriteFile(p, []byte(strings.Replace(string(b), old, new, 1)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// problems runs every case against a repository root and returns the
// problems reported.
func problems(root string) []string {
	var out []string
	for _, c := range cases(root) {
		objs, err := c.render()
		if err != nil {
			out = append(out, c.name+": "+err.Error())
			continue
		}
		out = append(out, wiring(objs)...)
		for _, o := range objs {
			for _, p := range check(o) {
				out = append(out, c.name+": "+p)
			}
		}
	}
	return out
}

func TestTheManifestsPass(t *testing.T) {
	if p := problems(copyDeploy(t, "", "", "")); len(p) > 0 {
		t.Fatalf("problems: %q", p)
	}
}

// TestEachKindOfMistakeIsCaught: a misspelt field, a wrong type, a broken
// promise in the base and in the chart each fail with the place named.
func TestEachKindOfMistakeIsCaught(t *testing.T) {
	tests := []struct {
		file, old, new, want string
	}{
		{"deploy/kubernetes/statefulset.yaml", "readOnlyRootFilesystem: true", "readOnlyRootFileSystem: true",
			`unknown field "spec.template.spec.containers[0].securityContext.readOnlyRootFileSystem"`},
		{"deploy/kubernetes/statefulset.yaml", "replicas: 1", "replicas: 2", "replicas must be 1"},
		{"deploy/kubernetes/components/servicemonitor/servicemonitor.yaml", "interval: 30s", "intervall: 30s", `unknown field "intervall"`},
		{"deploy/helm/scimbridge/templates/service.yaml", "port: {{ .Values.service.port }}", `port: "{{ .Values.service.port }}x"`,
			"cannot unmarshal string into Go struct field ServicePort.spec.ports.port of type int32"},
		{"deploy/helm/scimbridge/values.yaml", "path: /readyz", "path: /healthz", "readinessProbe must GET /readyz"},
		{"deploy/helm/scimbridge/templates/service.yaml", `{{- include "scimbridge.selectorLabels" . | nindent 4 }}`, "app: other",
			"Service scimbridge does not select the StatefulSet's pods"},
		{"deploy/kubernetes/kustomization.yaml", "includeSelectors: true", "includeSelectors: false",
			"Service scimbridge does not select the StatefulSet's pods"},
		{"deploy/helm/scimbridge/values.yaml", "drop: [\"ALL\"]", "drop: [\"NET_RAW\"]", "all capabilities dropped"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			p := problems(copyDeploy(t, tt.file, tt.old, tt.new))
			if !strings.Contains(strings.Join(p, "\n"), tt.want) {
				t.Fatalf("problems %q lack %q", p, tt.want)
			}
		})
	}
}
