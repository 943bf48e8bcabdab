package adtest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/scimbridge/scimbridge/bridge"
	"github.com/scimbridge/scimbridge/internal/bridgetest"
	"github.com/scimbridge/scimbridge/internal/sambatest"
)

// Where BenchmarkDirSyncBurstSamba works: OUs of its own on the shared DC,
// deleted at the end.
const (
	burstUsersDN  = "OU=BurstUsers," + sambatest.BaseDN
	burstGroupsDN = "OU=BurstGroups," + sambatest.BaseDN
)

// BenchmarkDirSyncBurstSamba times the changed-entries pass (DirSync) that
// applies a burst of 200 mail changes on Samba AD: DirSync gives only the
// changed attributes, and each changed object is read again. It reports
// the pass in ms.
func BenchmarkDirSyncBurstSamba(b *testing.B) {
	const burst = 200
	f := newADFixture(b, populatedDC(b), burstUsersDN, burstGroupsDN)
	for i := range burst {
		f.addUser(fmt.Sprintf("burst%03d", i))
	}
	_, _, sy := bridgetest.ChangeSyncer(b)
	s := f.settings()
	s.Sync.ChangedSyncIntervalSeconds = 60
	ctx := context.Background()
	if _, err := sy.RunChanged(ctx, s, bridge.Options{}); err != nil {
		b.Fatal(err)
	}
	var total time.Duration
	for n := 0; b.Loop(); n++ {
		b.StopTimer()
		for i := range burst {
			f.setMail(fmt.Sprintf("burst%03d", i), fmt.Sprintf("burst%03d.%d@example.com", i, n))
		}
		b.StartTimer()
		t0 := time.Now()
		res, err := sy.RunChanged(ctx, s, bridge.Options{})
		total += time.Since(t0)
		if err != nil {
			b.Fatal(err)
		}
		updated := 0
		for _, r := range res.Runs {
			updated += r.UsersUpdated
		}
		if res.Changes != burst || updated != burst {
			b.Fatalf("the pass delivered %d changes and updated %d users, want %d", res.Changes, updated, burst)
		}
	}
	b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms/pass")
}
