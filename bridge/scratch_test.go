package bridge_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"testing"
	"time"

	"github.com/scimbridge/scimbridge/bridge"
	"github.com/scimbridge/scimbridge/internal/slapdtest"
	"github.com/scimbridge/scimbridge/ldapsource"
	"github.com/scimbridge/scimbridge/store"
)

func TestScratchProfile(t *testing.T) {
	var b strings.Builder
	for i := 0; i < 30000; i++ {
		fmt.Fprintf(&b, "dn: uid=s%05d,ou=people,dc=example,dc=com\nobjectClass: inetOrgPerson\nuid: s%05d\ncn: S\nsn: S\nmail: s%d@x\n\n", i, i, i)
	}
	for g := 0; g < 600; g++ {
		fmt.Fprintf(&b, "dn: cn=g%03d,ou=groups,dc=example,dc=com\nobjectClass: groupOfNames\ncn: g%03d\n", g, g)
		for u := g * 50; u < g*50+50; u++ {
			fmt.Fprintf(&b, "member: uid=s%05d,ou=people,dc=example,dc=com\n", u)
		}
		for _, c := range []int{2*g + 1, 2*g + 2} {
			if c < 600 {
				fmt.Fprintf(&b, "member: cn=g%03d,ou=groups,dc=example,dc=com\n", c)
			}
		}
		b.WriteString("\n")
	}
	srv := slapdtest.Start(t, slapdtest.WithSyncprov(), slapdtest.WithLDIF(b.String()))
	db, _ := store.Open(context.Background(), filepath.Join(t.TempDir(), "s.db"))
	sy := bridge.NewSyncer(db, ldapsource.Dial, quietLog())
	sy.SetChangeDialer(ldapsource.DialChanges)
	set := srv.Settings()
	set.Sync.Live = true
	sy.RunChanged(context.Background(), set, bridge.Options{})
	f, _ := os.Create("/tmp/pass.pprof")
	pprof.StartCPUProfile(f)
	var total time.Duration
	for k := 0; k < 20; k++ {
		for i := 0; i < 10; i++ {
			srv.Load(t, fmt.Sprintf("dn: uid=s%05d,ou=people,dc=example,dc=com\nchangetype: modify\nreplace: mail\nmail: new%d.%d@x\n", i*1000+k, i, k))
		}
		t0 := time.Now()
		sy.RunChanged(context.Background(), set, bridge.Options{})
		total += time.Since(t0)
	}
	pprof.StopCPUProfile()
	f.Close()
	t.Logf("avg pass %v", total/20)
}
