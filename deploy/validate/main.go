// Command validate checks scimbridge's Kubernetes manifests: it builds the
// kustomize base (alone and with its components), lints the Helm chart and
// renders it with several value sets, then decodes every object strictly
// into the Kubernetes API types (client-go's scheme; the Prometheus
// Operator's for the ServiceMonitor) — an unknown field, a misspelt one or a
// wrong type fails — and checks what the deployment promises: one replica,
// the non-root, read-only, no-privilege security context, probes, resources,
// the secrets from files and the store on a volume claim.
//
// It is a module of its own, so the tools' dependencies (pinned in go.mod)
// stay out of scimbridge's. Run from the repository: `make deploy-check`.
//
//	go run . -repo ../..
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"helm.sh/helm/v4/pkg/chart/common"
	"helm.sh/helm/v4/pkg/chart/common/util"
	"helm.sh/helm/v4/pkg/chart/v2/lint"
	"helm.sh/helm/v4/pkg/chart/v2/lint/support"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	"helm.sh/helm/v4/pkg/engine"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

func main() {
	repo := flag.String("repo", "../..", "the repository's root")
	flag.Parse()
	var problems []string
	for _, c := range cases(*repo) {
		objs, err := c.render()
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", c.name, err))
			continue
		}
		kinds := map[string]int{}
		for _, p := range wiring(objs) {
			problems = append(problems, fmt.Sprintf("%s: %s", c.name, p))
		}
		for _, o := range objs {
			kinds[o.kind]++
			for _, p := range check(o) {
				problems = append(problems, fmt.Sprintf("%s: %s %s: %s", c.name, o.kind, o.name, p))
			}
		}
		for kind, n := range c.want {
			if kinds[kind] != n {
				problems = append(problems, fmt.Sprintf("%s: %d %s objects, want %d", c.name, kinds[kind], kind, n))
			}
		}
		fmt.Printf("ok   %-44s %s\n", c.name, describe(kinds))
	}
	if len(problems) > 0 {
		for _, p := range problems {
			fmt.Fprintln(os.Stderr, "FAIL", p)
		}
		os.Exit(1)
	}
}

func describe(kinds map[string]int) string {
	var parts []string
	for k, n := range kinds {
		parts = append(parts, fmt.Sprintf("%d %s", n, k))
	}
	sort.Strings(parts)
	return strings.Join(parts, ", ")
}

// testCase is one rendering of the manifests and the objects it must give.
type testCase struct {
	name   string
	render func() ([]object, error)
	want   map[string]int // kind -> count
}

func cases(repo string) []testCase {
	base := filepath.Join(repo, "deploy", "kubernetes")
	chart := filepath.Join(repo, "deploy", "helm", "scimbridge")
	secrets := map[string]any{"scimToken": "s", "adminToken": "a", "secretKey": strings.Repeat("ab", 32)}
	settings := map[string]any{"vendor": "openldap", "connection": map[string]any{"url": "ldaps://ldap.example.com"}}
	core := map[string]int{"StatefulSet": 1, "Service": 1, "ConfigMap": 1}
	return []testCase{
		{"kustomize base", func() ([]object, error) { return kustomize(base, nil) }, core},
		{"kustomize base + components", func() ([]object, error) {
			return kustomize(base, []string{"components/networkpolicy", "components/servicemonitor"})
		}, merge(core, map[string]int{"NetworkPolicy": 1, "ServiceMonitor": 1})},
		{"helm lint", func() ([]object, error) {
			return nil, helmLint(chart, map[string]any{"secrets": secrets})
		}, nil},
		{"helm template (secrets given)", func() ([]object, error) {
			return helmTemplate(chart, map[string]any{"secrets": secrets})
		}, map[string]int{"StatefulSet": 1, "Service": 1, "Secret": 1}},
		{"helm template (settings, all options)", func() ([]object, error) {
			return helmTemplate(chart, map[string]any{"secrets": merge(secrets, map[string]any{"metricsToken": "m"}), "settings": settings,
				"networkPolicy": map[string]any{"enabled": true}, "serviceMonitor": map[string]any{"enabled": true, "bearerToken": true}})
		}, map[string]int{"StatefulSet": 1, "Service": 1, "Secret": 1, "ConfigMap": 1, "NetworkPolicy": 1, "ServiceMonitor": 1}},
		{"helm template (settings from a file)", func() ([]object, error) {
			objs, err := helmTemplate(chart, map[string]any{"existingSecret": "mine", "settings": "{\"vendor\": \"ad\"}\n"})
			if err != nil {
				return nil, err
			}
			for _, o := range objs {
				if cm, ok := o.obj.(*corev1.ConfigMap); ok && strings.TrimSpace(cm.Data["settings.json"]) != `{"vendor": "ad"}` {
					return nil, fmt.Errorf("settings.json = %q, want the file's text", cm.Data["settings.json"])
				}
			}
			return objs, nil
		}, map[string]int{"StatefulSet": 1, "Service": 1, "ConfigMap": 1}},
		{"helm template (existingSecret)", func() ([]object, error) {
			return helmTemplate(chart, map[string]any{"existingSecret": "mine"})
		}, map[string]int{"StatefulSet": 1, "Service": 1}},
		{"helm template refuses missing secrets", func() ([]object, error) {
			_, err := helmTemplate(chart, nil)
			if err == nil || !strings.Contains(err.Error(), "secrets.scimToken is required") {
				return nil, fmt.Errorf("want an error naming secrets.scimToken, got %v", err)
			}
			return nil, nil
		}, nil},
	}
}

func merge[V any](a, b map[string]V) map[string]V {
	out := map[string]V{}
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		out[k] = v
	}
	return out
}

// kustomize builds the base, with components when given, in memory.
func kustomize(base string, components []string) ([]object, error) {
	mem := filesys.MakeFsInMemory()
	err := filepath.WalkDir(base, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(base, p)
		if err != nil {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return mem.WriteFile(filepath.Join("/base", rel), b)
	})
	if err != nil {
		return nil, err
	}
	dir := "/base"
	if len(components) > 0 {
		var b strings.Builder
		b.WriteString("apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - ../base\ncomponents:\n")
		for _, c := range components {
			fmt.Fprintf(&b, "  - ../base/%s\n", c)
		}
		if err := mem.WriteFile("/overlay/kustomization.yaml", []byte(b.String())); err != nil {
			return nil, err
		}
		dir = "/overlay"
	}
	resMap, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(mem, dir)
	if err != nil {
		return nil, err
	}
	out, err := resMap.AsYaml()
	if err != nil {
		return nil, err
	}
	return decodeAll("kustomize build", out)
}

// helmLint runs the chart linter (`helm lint`): errors and warnings fail.
func helmLint(chart string, values map[string]any) error {
	l := lint.RunAll(chart, values, "default")
	var msgs []string
	for _, m := range l.Messages {
		if m.Severity >= support.WarningSev {
			msgs = append(msgs, m.Error())
		}
	}
	if len(msgs) > 0 {
		return errors.New(strings.Join(msgs, "; "))
	}
	return nil
}

// helmTemplate renders the chart as `helm template` does.
func helmTemplate(chartDir string, values map[string]any) ([]object, error) {
	ch, err := loader.Load(chartDir)
	if err != nil {
		return nil, err
	}
	vals, err := util.ToRenderValues(ch, values, common.ReleaseOptions{Name: "scimbridge", Namespace: "default", IsInstall: true}, nil)
	if err != nil {
		return nil, err
	}
	files, err := engine.Render(ch, vals)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	var objs []object
	for _, n := range names {
		if !strings.HasSuffix(n, ".yaml") {
			continue
		}
		o, err := decodeAll(n, []byte(files[n]))
		if err != nil {
			return nil, err
		}
		objs = append(objs, o...)
	}
	return objs, nil
}

// object is one decoded manifest.
type object struct {
	kind, name string
	obj        any // a typed API object
}

var strict = serializer.NewCodecFactory(scheme.Scheme, serializer.EnableStrict).UniversalDeserializer()

// decodeAll splits a YAML stream and decodes each document strictly.
func decodeAll(source string, data []byte) ([]object, error) {
	var out []object
	for i, doc := range bytes.Split(data, []byte("\n---")) {
		doc = bytes.TrimPrefix(bytes.TrimSpace(doc), []byte("---"))
		if len(bytes.TrimSpace(removeComments(doc))) == 0 {
			continue
		}
		var meta struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
			Metadata   struct {
				Name string `json:"name"`
			} `json:"metadata"`
		}
		js, err := yaml.YAMLToJSON(doc)
		if err != nil {
			return nil, fmt.Errorf("%s document %d: %w", source, i+1, err)
		}
		if err := json.Unmarshal(js, &meta); err != nil {
			return nil, fmt.Errorf("%s document %d: %w", source, i+1, err)
		}
		var obj any
		if meta.APIVersion == "monitoring.coreos.com/v1" && meta.Kind == "ServiceMonitor" {
			var sm monitoringv1.ServiceMonitor
			dec := json.NewDecoder(bytes.NewReader(js))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&sm); err != nil {
				return nil, fmt.Errorf("%s: ServiceMonitor %s: %w", source, meta.Metadata.Name, err)
			}
			obj = &sm
		} else {
			o, _, err := strict.Decode(js, nil, nil)
			if err != nil {
				return nil, fmt.Errorf("%s: %s %s: %w", source, meta.Kind, meta.Metadata.Name, err)
			}
			obj = o
		}
		out = append(out, object{kind: meta.Kind, name: meta.Metadata.Name, obj: obj})
	}
	return out, nil
}

func removeComments(doc []byte) []byte {
	var b bytes.Buffer
	for _, l := range bytes.Split(doc, []byte("\n")) {
		if !bytes.HasPrefix(bytes.TrimSpace(l), []byte("#")) {
			b.Write(l)
			b.WriteByte('\n')
		}
	}
	return b.Bytes()
}

// wiring checks that the objects find each other: the Service and the
// NetworkPolicy select the StatefulSet's pods, the StatefulSet names the
// Service, the ServiceMonitor selects the Service.
func wiring(objs []object) []string {
	var p []string
	var ss *appsv1.StatefulSet
	for _, o := range objs {
		if s, ok := o.obj.(*appsv1.StatefulSet); ok {
			ss = s
		}
	}
	if ss == nil {
		return nil
	}
	pod := ss.Spec.Template.Labels
	subset := func(sel, labels map[string]string) bool {
		for k, v := range sel {
			if labels[k] != v {
				return false
			}
		}
		return len(sel) > 0
	}
	if ss.Spec.Selector == nil || !subset(ss.Spec.Selector.MatchLabels, pod) {
		p = append(p, "the StatefulSet's selector does not match its pods")
	}
	var svc *corev1.Service
	for _, o := range objs {
		switch x := o.obj.(type) {
		case *corev1.Service:
			svc = x
			if !subset(x.Spec.Selector, pod) {
				p = append(p, fmt.Sprintf("Service %s does not select the StatefulSet's pods %v (selector %v)", x.Name, pod, x.Spec.Selector))
			}
			if x.Name != ss.Spec.ServiceName {
				p = append(p, fmt.Sprintf("the StatefulSet's serviceName %q is not Service %s", ss.Spec.ServiceName, x.Name))
			}
		case *networkingv1.NetworkPolicy:
			if !subset(x.Spec.PodSelector.MatchLabels, pod) {
				p = append(p, fmt.Sprintf("NetworkPolicy %s does not select the StatefulSet's pods", x.Name))
			}
		}
	}
	for _, o := range objs {
		if sm, ok := o.obj.(*monitoringv1.ServiceMonitor); ok && (svc == nil || !subset(sm.Spec.Selector.MatchLabels, svc.Labels)) {
			p = append(p, fmt.Sprintf("ServiceMonitor %s does not select the Service", sm.Name))
		}
	}
	return p
}

// check returns what an object breaks of the deployment's promises.
func check(o object) []string {
	ss, ok := o.obj.(*appsv1.StatefulSet)
	if !ok {
		return nil
	}
	var p []string
	fail := func(format string, args ...any) { p = append(p, fmt.Sprintf(format, args...)) }
	if ss.Spec.Replicas == nil || *ss.Spec.Replicas != 1 {
		fail("replicas must be 1: SQLite has one writer")
	}
	pod := ss.Spec.Template.Spec
	psc := pod.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.RunAsUser == nil || *psc.RunAsUser != 65532 ||
		psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		fail("pod securityContext: want runAsNonRoot, runAsUser 65532, seccomp RuntimeDefault")
	}
	if pod.TerminationGracePeriodSeconds == nil || *pod.TerminationGracePeriodSeconds <= 25 {
		fail("terminationGracePeriodSeconds must exceed SCIMBRIDGE_SHUTDOWN_TIMEOUT (25 s)")
	}
	if len(pod.Containers) != 1 {
		fail("want one container, got %d", len(pod.Containers))
		return p
	}
	c := pod.Containers[0]
	sc := c.SecurityContext
	if sc == nil || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
		sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot ||
		sc.Capabilities == nil || len(sc.Capabilities.Drop) != 1 || sc.Capabilities.Drop[0] != "ALL" ||
		sc.SeccompProfile == nil || sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		fail("container securityContext: want no privilege escalation, read-only root, non-root, all capabilities dropped, seccomp RuntimeDefault")
	}
	if c.ReadinessProbe == nil || c.ReadinessProbe.HTTPGet == nil || c.ReadinessProbe.HTTPGet.Path != "/readyz" {
		fail("readinessProbe must GET /readyz")
	}
	if c.LivenessProbe == nil || c.LivenessProbe.HTTPGet == nil || c.LivenessProbe.HTTPGet.Path != "/healthz" {
		fail("livenessProbe must GET /healthz")
	}
	for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		if _, ok := c.Resources.Requests[r]; !ok {
			fail("resources.requests.%s missing", r)
		}
	}
	if _, ok := c.Resources.Limits[corev1.ResourceMemory]; !ok {
		fail("resources.limits.memory missing")
	}
	env := map[string]string{}
	for _, e := range c.Env {
		env[e.Name] = e.Value
		if e.ValueFrom == nil && strings.Contains(e.Name, "TOKEN") && !strings.HasSuffix(e.Name, "_FILE") {
			fail("%s is a literal value: secrets come from the Secret", e.Name)
		}
	}
	for _, name := range []string{"SCIMBRIDGE_SCIM_TOKEN_FILE", "SCIMBRIDGE_ADMIN_TOKEN_FILE", "SCIMBRIDGE_SECRET_KEY_FILE"} {
		if !strings.HasPrefix(env[name], "/run/secrets/") {
			fail("%s must name a file of the mounted Secret, got %q", name, env[name])
		}
	}
	if env["SCIMBRIDGE_DB"] != "/data/scimbridge.db" {
		fail("SCIMBRIDGE_DB must be on the /data volume, got %q", env["SCIMBRIDGE_DB"])
	}
	mounts := map[string]string{}
	for _, m := range c.VolumeMounts {
		mounts[m.MountPath] = m.Name
	}
	if mounts["/tmp"] == "" {
		fail("/tmp must be a volume: the root filesystem is read-only")
	}
	claim := false
	for _, t := range ss.Spec.VolumeClaimTemplates {
		if t.Name == mounts["/data"] {
			claim = true
		}
	}
	if !claim {
		fail("/data must be a volumeClaimTemplate")
	}
	return p
}
