package bridge_test

import (
	"context"
	"fmt"
	"path/filepath"
	"runtime"
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
// 10 values (a misconfiguration): the rule's cost must stay within 1.3× in
// time and in peak heap. make bench runs it.
func BenchmarkMisconfiguredExternalID(b *testing.B) {
	const n = 200_000
	for _, c := range []struct {
		name     string
		distinct int
	}{{"distinct", n}, {"ten-values", 10}} {
		users := make([]*schema.Entry, n)
		for i := range users {
			users[i] = bridgetest.Entry(fmt.Sprintf("cn=u%06d,ou=people,dc=example,dc=com", i),
				fmt.Sprintf("uid: user%06d", i), fmt.Sprintf("employeeNumber: %d", i%c.distinct),
				fmt.Sprintf("mail: user%06d@example.com", i), "givenName: Given", "sn: Family")
		}
		b.Run(c.name, func(b *testing.B) {
			db, err := store.Open(context.Background(), filepath.Join(b.TempDir(), "state.db"))
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			dir := bridgetest.NewDirectory(bridgetest.Forward)
			dir.Set(users, nil)
			set := orderSettings(false)
			set.Groups.Enabled = false
			sy := bridge.NewSyncer(db, dir.Dialer(), quietLog())
			runtime.GC()
			var base runtime.MemStats
			runtime.ReadMemStats(&base)
			peak := sampleHeap()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				r, err := sy.Run(context.Background(), set, bridge.Options{DryRun: true})
				if err != nil || r.Status != bridge.StatusSucceeded {
					b.Fatalf("run: %v %+v", err, r)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(peak()-base.HeapInuse)/(1<<20), "peak-heap-MB")
		})
	}
}

// sampleHeap samples the heap in use every 20 ms until stop is
// called, which returns the largest value seen.
func sampleHeap() (stop func() uint64) {
	var mu sync.Mutex
	var peak uint64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		var m runtime.MemStats
		for {
			select {
			case <-done:
				return
			case <-t.C:
				runtime.ReadMemStats(&m)
				mu.Lock()
				peak = max(peak, m.HeapInuse)
				mu.Unlock()
			}
		}
	}()
	return func() uint64 {
		close(done)
		wg.Wait()
		return peak
	}
}
