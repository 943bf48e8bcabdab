package store

import (
	"context"
	"syscall"
	"testing"
	"time"

	"github.com/scimbridge/scimbridge/bridge"
)

func cpuNow() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func TestScratchApplyCPU(t *testing.T) {
	p := bigPlan(100_000, 2_000)
	for range 2 {
		db := openTest(t)
		r := &bridge.Report{Trigger: bridge.TriggerManual}
		db.StartRun(context.Background(), r)
		c0, w0 := cpuNow(), time.Now()
		if err := db.Apply(context.Background(), p, r); err != nil {
			t.Fatal(err)
		}
		t.Logf("cpu %v wall %v", cpuNow()-c0, time.Since(w0))
		db.Close()
	}
}
