package adtest

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/scimbridge/scimbridge/internal/sambatest"
	"github.com/scimbridge/scimbridge/ldapsource"
	"github.com/scimbridge/scimbridge/schema"
)

type connCase struct {
	name         string
	edit         func(s *schema.Settings)
	authenticate bool
	wantOK       bool
	// wantSteps are the steps run, in order; the last one is TestResult.Step.
	wantSteps []string
	// wantIn are substrings of TestResult.Message.
	wantIn []string
}

var allSteps = []string{ldapsource.StepDNS, ldapsource.StepTCP, ldapsource.StepTLS, ldapsource.StepBind, ldapsource.StepSearch}

func runConnCases(t *testing.T, dc *sambatest.DC, cases []connCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := dc.Settings()
			tc.edit(s)
			res := ldapsource.Test(context.Background(), s, tc.authenticate)
			var steps []string
			for _, st := range res.Steps {
				steps = append(steps, st.Step)
			}
			if res.OK != tc.wantOK || !slices.Equal(steps, tc.wantSteps) || res.Step != tc.wantSteps[len(tc.wantSteps)-1] {
				t.Errorf("got ok=%v step=%q steps=%v (%q), want ok=%v steps=%v", res.OK, res.Step, steps, res.Message, tc.wantOK, tc.wantSteps)
			}
			for _, w := range tc.wantIn {
				if !strings.Contains(res.Message, w) {
					t.Errorf("message %q does not contain %q", res.Message, w)
				}
			}
			if strings.Contains(res.Message, dc.AdminPassword) {
				t.Errorf("message %q contains the bind credential", res.Message)
			}
		})
	}
}

// TestConnectionChecks: the admin page's Test connection / Test
// authentication against the DC name the failing step in an admin's words,
// and both AD bind name forms work.
func TestConnectionChecks(t *testing.T) {
	dc := populatedDC(t)
	runConnCases(t, dc, []connCase{
		{
			name:   "wrong address",
			edit:   func(s *schema.Settings) { s.Connection.URL = "ldap://" + dc.Addr + ":1" },
			wantOK: false, wantSteps: allSteps[:2], wantIn: []string{"connection refused", dc.Addr + ":1"},
		},
		{
			name:   "ldaps without the CA",
			edit:   func(s *schema.Settings) { s.Connection.CACertPEM = "" },
			wantOK: false, wantSteps: allSteps[:3], wantIn: []string{"unknown authority"},
		},
		{
			name:         "wrong password",
			edit:         func(s *schema.Settings) { s.Connection.BindCredential = "Wrong-" + dc.AdminPassword },
			authenticate: true,
			wantOK:       false, wantSteps: allSteps[:4], wantIn: []string{"invalid credentials (49)"},
		},
		{
			name:         "bare account name",
			edit:         func(s *schema.Settings) { s.Connection.BindDN = "Administrator" },
			authenticate: true,
			wantOK:       false, wantSteps: allSteps[:4], wantIn: []string{"(49)", `"DOMAIN\user"`},
		},
		{
			name:         `bind as TEST\Administrator`,
			edit:         func(s *schema.Settings) { s.Connection.BindDN = dc.Domain + `\Administrator` },
			authenticate: true,
			wantOK:       true, wantSteps: allSteps,
		},
		{
			name:         "bind as Administrator@test.example.com",
			edit:         func(s *schema.Settings) { s.Connection.BindDN = "Administrator@test.example.com" },
			authenticate: true,
			wantOK:       true, wantSteps: allSteps,
		},
		{
			name:         "bind by DN",
			edit:         func(s *schema.Settings) { s.Connection.BindDN = "CN=Administrator,CN=Users," + dc.BaseDN },
			authenticate: true,
			wantOK:       true, wantSteps: allSteps,
		},
		{
			name: "StartTLS with the CA",
			edit: func(s *schema.Settings) {
				s.Connection.URL = dc.URL
				s.Connection.StartTLS = true
			},
			authenticate: true,
			wantOK:       true, wantSteps: allSteps,
		},
		{
			name:         "unknown users base",
			edit:         func(s *schema.Settings) { s.Users.UsersDN = "OU=Nobody," + dc.BaseDN },
			authenticate: true,
			wantOK:       false, wantSteps: allSteps, wantIn: []string{"no such object", "OU=Nobody," + dc.BaseDN},
		},
	})
}

// TestStrongAuthRequired: on a DC left at Samba's default "ldap server
// require strong auth = yes", a simple bind over plain LDAP fails at the bind
// step with advice to use ldaps or StartTLS; both of those work.
func TestStrongAuthRequired(t *testing.T) {
	t.Parallel()
	dc := sambatest.Start(t, sambatest.WithStrongAuth())
	runConnCases(t, dc, []connCase{
		{
			name:         "simple bind on plain ldap",
			edit:         func(s *schema.Settings) { s.Connection.URL = dc.URL },
			authenticate: true,
			wantOK:       false, wantSteps: allSteps[:4], wantIn: []string{"strongAuthRequired, 8", "ldaps://", "StartTLS"},
		},
		{
			name:   "plain ldap without bind",
			edit:   func(s *schema.Settings) { s.Connection.URL = dc.URL },
			wantOK: true, wantSteps: allSteps[:3],
		},
		{
			name: "StartTLS",
			edit: func(s *schema.Settings) {
				s.Connection.URL = dc.URL
				s.Connection.StartTLS = true
				s.Users.UsersDN = "CN=Users," + dc.BaseDN
			},
			authenticate: true,
			wantOK:       true, wantSteps: allSteps,
		},
		{
			name:         "ldaps",
			edit:         func(s *schema.Settings) { s.Users.UsersDN = "CN=Users," + dc.BaseDN },
			authenticate: true,
			wantOK:       true, wantSteps: allSteps,
		},
	})

	// ldapsource.Dial, which the sync uses, fails the same way.
	s := dc.Settings()
	s.Connection.URL = dc.URL
	dir, err := ldapsource.Dial(context.Background(), s)
	if err == nil {
		dir.Close()
		t.Fatal("Dial with a simple bind on plain ldap:// succeeded on a strong-auth DC")
	}
	if !strings.Contains(err.Error(), "strongAuthRequired") {
		t.Errorf("Dial error %q does not name strongAuthRequired", err)
	}
}
