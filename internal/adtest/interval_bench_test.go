package adtest

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/scimbridge/scimbridge/bridge"
	"github.com/scimbridge/scimbridge/internal/bridgetest"
	"github.com/scimbridge/scimbridge/internal/sambatest"
	"github.com/scimbridge/scimbridge/ldapsource"
	"github.com/scimbridge/scimbridge/scheduler"
	"github.com/scimbridge/scimbridge/schema"
)

// Where BenchmarkChangedIntervalSamba works: OUs of its own on the shared
// DC, deleted at the end.
const (
	intervalUsersDN  = "OU=IntervalUsers," + sambatest.BaseDN
	intervalGroupsDN = "OU=IntervalGroups," + sambatest.BaseDN
)

// BenchmarkChangedIntervalSamba measures how soon a change on Samba AD is
// served when changed-entries passes (DirSync) run every
// sync.changedSyncIntervalSeconds (2 s), run by the scheduler as
// `scimbridge serve` runs them: 20 changes an iteration (modify, add,
// member add/remove, delete, in turn) at random moments, each timed from
// the LDAP write's answer until the store serves it (what GET /scim/v2
// reads). It reports p50, p99 and max in ms and the limit, one
// interval plus 1 s (`make bench` runs it after the main benchmark).
func BenchmarkChangedIntervalSamba(b *testing.B) {
	const interval = 2 * time.Second
	f := newADFixture(b, populatedDC(b), intervalUsersDN, intervalGroupsDN)
	changes := 20 * b.N
	for i := range changes {
		f.addUser(fmt.Sprintf("i-%04d", i)) // modified, put in and out of i-team, or deleted
	}
	f.addGroup("i-team", f.user("i-0000"))

	ctx := context.Background()
	db, _, sy := bridgetest.ChangeSyncer(b)
	s := f.settings()
	s.Sync.PeriodicFullSync, s.Sync.ChangedSyncIntervalSeconds = false, int(interval/time.Second)
	if res, err := sy.RunChanged(ctx, s, bridge.Options{}); err != nil || res.Mechanism != ldapsource.MechanismDirSync || len(res.Runs) != 1 || res.Runs[0].FullSyncReason == "" {
		b.Fatalf("the full sync that takes the first position: %v %+v", err, res)
	}
	sched, err := scheduler.New(sy, func(context.Context) (*schema.Settings, error) { c := *s; return &c, nil },
		slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		b.Fatal(err)
	}
	sched.Start()
	defer sched.Stop()
	if err := sched.Reschedule(ctx); err != nil {
		b.Fatal(err)
	}

	// isServed says whether the store serves sam as want spells it (see
	// served), or not at all when want is "".
	isServed := func(sam, want string) bool {
		got, ok := servedUsers(b, db)[sam]
		return ok && got == want || !ok && want == ""
	}
	rng := rand.New(rand.NewPCG(1, 0x5a3b))
	var lat []time.Duration
	b.ResetTimer()
	for i := range changes {
		time.Sleep(time.Duration(rng.Int64N(int64(interval)))) // a random moment of the cycle
		sam := fmt.Sprintf("i-%04d", i)
		var want string
		switch i % 4 {
		case 0:
			mail := sam + "@changed.example.com"
			f.setMail(sam, mail)
			want = served(mail)
			if i == 0 {
				want = served(mail, "i-team/true")
			}
		case 1:
			sam = fmt.Sprintf("i-new%04d", i)
			f.addUser(sam)
			want = served(sam + "@example.com")
		case 2: // in, then out at the next turn
			if i%8 == 2 {
				f.members("i-team", []string{f.user(sam)}, nil)
				want = served(sam+"@example.com", "i-team/true")
			} else {
				sam = fmt.Sprintf("i-%04d", i-4)
				f.members("i-team", nil, []string{f.user(sam)})
				want = served(sam + "@example.com")
			}
		case 3:
			f.do("delete "+sam, f.c.Del(ldap.NewDelRequest(f.user(sam), nil)))
		}
		t0 := time.Now()
		for !isServed(sam, want) {
			if time.Since(t0) > time.Minute {
				b.Fatalf("change %d (%s) not served after a minute", i, sam)
			}
			time.Sleep(5 * time.Millisecond)
		}
		lat = append(lat, time.Since(t0))
	}
	b.StopTimer()
	slices.Sort(lat)
	at := func(p int) time.Duration { return lat[min(max((len(lat)*p+99)/100-1, 0), len(lat)-1)] }
	b.ReportMetric(float64(at(50).Milliseconds()), "p50-ms")
	b.ReportMetric(float64(at(99).Milliseconds()), "p99-ms")
	b.ReportMetric(float64(lat[len(lat)-1].Milliseconds()), "max-ms")
	b.ReportMetric(float64((interval + time.Second).Milliseconds()), "limit-ms")
}
