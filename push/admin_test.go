package push_test

import (
	"context"
	"net"
	"strings"
	"testing"

	"github.com/scimbridge/scimbridge/push"
)

func TestTestPushNamesTheFailingStep(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()

	got := h.client.TestPush(ctx, h.settings)
	if !got.OK || got.Step != push.StepAuth || !strings.Contains(got.Message, "token accepted") {
		t.Fatalf("right settings: %+v", got)
	}

	wrong := *h.settings
	wrong.Push.Token = "not-the-token"
	got = h.client.TestPush(ctx, &wrong)
	if got.OK || got.Step != push.StepAuth || !strings.Contains(got.Message, "refused the token (HTTP 401)") {
		t.Fatalf("wrong token: %+v", got)
	}
	if strings.Contains(got.Message, "not-the-token") {
		t.Fatal("the token was echoed")
	}

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + l.Addr().String() + "/scim/v2"
	l.Close()
	down := *h.settings
	down.Push.URL = closed
	if got = h.client.TestPush(ctx, &down); got.OK || got.Step != push.StepConnect || !strings.Contains(got.Message, "cannot reach") {
		t.Fatalf("closed port: %+v", got)
	}

	notSCIM := *h.settings
	notSCIM.Push.URL = strings.TrimSuffix(h.target.URL, "/scim/v2") + "/nothing-here"
	if got = h.client.TestPush(ctx, &notSCIM); got.OK || got.Step != push.StepConfigs {
		t.Fatalf("wrong base URL: %+v", got)
	}

	none := *h.settings
	none.Push.URL = ""
	if got = h.client.TestPush(ctx, &none); got.OK || got.Step != push.StepConfig || !strings.Contains(got.Message, "push.url") {
		t.Fatalf("no URL: %+v", got)
	}
}

func TestDeprovisionRemovesEverythingPushed(t *testing.T) {
	h := newHarness(t)
	h.sync()
	if st := h.state(); len(st.Users) != 9 || len(st.Groups) != 8 {
		t.Fatalf("before: %d users, %d groups at the target", len(st.Users), len(st.Groups))
	}
	h.target.Reset(t)
	if _, err := h.client.Deprovision(context.Background(), h.settings); err != nil {
		t.Fatal(err)
	}
	if st := h.state(); len(st.Users) != 0 || len(st.Groups) != 0 {
		t.Fatalf("after: target still holds %v", st)
	}
	if got := writes(h.target.Requests(t)); !mapsEqual(got, map[string]int{"DELETE /Users": 9, "DELETE /Groups": 8}) {
		t.Errorf("writes %v", got)
	}
	status, err := h.client.Status(context.Background())
	if err != nil || len(status.Items) != 0 {
		t.Fatalf("bookkeeping after deprovision: %+v, %v", status, err)
	}
}
