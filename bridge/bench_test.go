package bridge_test

import (
	"context"
	"fmt"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
	"testing"
	"time"

	"github.com/scimbridge/scimbridge/bridge"
	"github.com/scimbridge/scimbridge/internal/bridgetest"
	"github.com/scimbridge/scimbridge/schema"
	"github.com/scimbridge/scimbridge/store"
)

// BenchmarkMisconfiguredExternalID compares a dry run of 200,000 users with
// distinct externalIds against one where the externalId attribute has only
// 10 values (a misconfiguration), alternating the two in one run so that
// their ratios are taken under the same load: the rule's cost must stay
// within 1.3× in time and in peak live heap. make bench runs it.
func BenchmarkMisconfiguredExternalID(b *testing.B) {
	const n = 200_000
	type variant struct {
		name     string
		users    []*schema.Entry
		sy       *bridge.Syncer
		secs, mb float64
	}
	variants := []*variant{{name: "distinct"}, {name: "ten-values"}}
	set := orderSettings(false)
	set.Groups.Enabled = false
	for k, v := range variants {
		distinct := n
		if k == 1 {
			distinct = 10
		}
		for i := 0; i < n; i++ {
			v.users = append(v.users, bridgetest.Entry(fmt.Sprintf("cn=u%06d,ou=people,dc=example,dc=com", i),
				fmt.Sprintf("uid: user%06d", i), fmt.Sprintf("employeeNumber: %d", i%distinct),
				fmt.Sprintf("mail: user%06d@example.com", i), "givenName: Given", "sn: Family"))
		}
		db, err := store.Open(context.Background(), filepath.Join(b.TempDir(), v.name+".db"))
		if err != nil {
			b.Fatal(err)
		}
		defer db.Close()
		dir := bridgetest.NewDirectory(bridgetest.Forward)
		dir.Set(v.users, nil)
		v.sy = bridge.NewSyncer(db, dir.Dialer(), quietLog())
	}
	run := func(v *variant) {
		r, err := v.sy.Run(context.Background(), set, bridge.Options{DryRun: true})
		if err != nil || r.Status != bridge.StatusSucceeded {
			b.Fatalf("%s run: %v %+v", v.name, err, r)
		}
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for _, v := range variants {
			start := time.Now()
			run(v)
			v.secs += time.Since(start).Seconds()
		}
		// The peak live heap, in a run of its own with the collector
		// working hard, so that the live heap it samples is close to the truth.
		old := debug.SetGCPercent(5)
		for _, v := range variants {
			runtime.GC()
			base := liveHeap()
			stop := sampleLiveHeap()
			run(v)
			v.mb += float64(stop()-base) / (1 << 20)
		}
		debug.SetGCPercent(old)
	}
	d, t := variants[0], variants[1]
	b.ReportMetric(d.secs/float64(b.N), "distinct-s")
	b.ReportMetric(t.secs/float64(b.N), "ten-values-s")
	b.ReportMetric(t.secs/d.secs, "time-ratio")
	b.ReportMetric(d.mb/float64(b.N), "distinct-peak-MB")
	b.ReportMetric(t.mb/float64(b.N), "ten-values-peak-MB")
	b.ReportMetric(t.mb/d.mb, "heap-ratio")
}

// liveHeap returns the heap that the last collection found live.
func liveHeap() uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// sampleLiveHeap samples the live heap every 5 ms until stop is called,
// which returns the largest value seen.
func sampleLiveHeap() (stop func() uint64) {
	var peak uint64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				peak = max(peak, liveHeap())
			}
		}
	}()
	return func() uint64 {
		close(done)
		wg.Wait()
		return max(peak, liveHeap())
	}
}
