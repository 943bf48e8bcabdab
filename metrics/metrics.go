// Package metrics exposes scimbridge's Prometheus metrics: sync runs, what
// the store serves, push requests and SCIM requests, plus the Go runtime and
// process collectors.
//
// The packages that do the work know nothing of Prometheus: the scheduler
// calls RunEnded after each run, the push client calls PushRequest after
// each answer, the serve command's middleware calls SCIMRequest, and the
// store's counts are read when Prometheus scrapes. No label carries a user
// name, a DN or a token: resources are "Users", "Groups" and the like, never ids.
//
//	m := metrics.New(version, storeCounts)
//	mux.Handle("/metrics", m.Handler(os.Getenv("SCIMBRIDGE_METRICS_TOKEN")))
package metrics

import (
	"context"
	"crypto/subtle"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Counts is what the store holds when Prometheus scrapes.
type Counts struct {
	// Users and Groups are what /scim/v2 serves now.
	Users, Groups int
	// PushPending counts changes not yet delivered to the push target: change
	// log entries after the push cursor and resources marked pending.
	PushPending int
	// PushFailed counts resources the push target refused, retried next run.
	PushFailed int
}

// CountFunc reads Counts from the store.
type CountFunc func(ctx context.Context) (Counts, error)

// Metrics holds scimbridge's collectors in a registry of its own.
type Metrics struct {
	reg *prometheus.Registry

	syncRuns     *prometheus.CounterVec
	syncDuration prometheus.Histogram
	lastSuccess  prometheus.Gauge
	skipped      prometheus.Gauge
	pushRequests *prometheus.CounterVec
	scimRequests *prometheus.CounterVec
	scimDuration prometheus.Histogram
}

// New returns the metrics of one process; counts is called on every scrape
// (nil: the store gauges are not exported).
func New(version string, counts CountFunc) *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		syncRuns: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "scimbridge_sync_runs_total",
			Help: "Sync runs ended, by trigger (manual, scheduled, startup) and status (succeeded, failed, held, interrupted).",
		}, []string{"trigger", "status"}),
		syncDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "scimbridge_sync_duration_seconds",
			Help: "How long sync runs took, from start to recorded end.",
			// From a small directory's sub-second run to a million users.
			Buckets: []float64{0.1, 0.5, 1, 5, 15, 30, 60, 120, 300, 600, 1800},
		}),
		lastSuccess: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "scimbridge_sync_last_success_timestamp_seconds",
			Help: "Unix time at which the last successful sync run (not a dry run) ended; 0: none recorded.",
		}),
		skipped: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "scimbridge_sync_skipped_entries",
			Help: "Directory entries skipped (bad or duplicate values) by the last run that read the whole directory; its report lists them.",
		}),
		pushRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "scimbridge_push_requests_total",
			Help: `Requests sent to the push target, by method, resource and HTTP status code ("error" when no answer came).`,
		}, []string{"method", "resource", "code"}),
		scimRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "scimbridge_scim_requests_total",
			Help: "Requests answered at /scim/v2, by resource and HTTP status code.",
		}, []string{"resource", "code"}),
		scimDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "scimbridge_scim_request_duration_seconds",
			Help:    "How long /scim/v2 requests took to answer.",
			Buckets: prometheus.DefBuckets,
		}),
	}
	build := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "scimbridge_build_info",
		Help: "Always 1; the version label says which scimbridge runs.",
	}, []string{"version"})
	build.WithLabelValues(version).Set(1)
	m.reg.MustRegister(m.syncRuns, m.syncDuration, m.lastSuccess, m.skipped, m.pushRequests,
		m.scimRequests, m.scimDuration, build,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if counts != nil {
		m.reg.MustRegister(&storeCollector{counts: counts})
	}
	return m
}

// Registry is the registry that holds every scimbridge collector.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Run is what the metrics take from one ended sync run.
type Run struct {
	Trigger, Status string // as the run report says them
	DryRun          bool
	Duration        time.Duration
	// Skipped counts the entries the run skipped; it is exported only for
	// runs that read the whole directory (succeeded or held).
	Skipped int
	// Partial says the run applied a batch of changes (trigger changed or
	// live) instead of reading the whole directory.
	Partial  bool
	Finished time.Time
}

// RunEnded records one ended sync run. Only a successful run that is not a
// dry run moves scimbridge_sync_last_success_timestamp_seconds: a dry run
// leaves the store as it was.
func (m *Metrics) RunEnded(r Run) {
	m.syncRuns.WithLabelValues(r.Trigger, r.Status).Inc()
	m.syncDuration.Observe(r.Duration.Seconds())
	switch {
	case r.Status == "succeeded":
		if !r.Partial {
			m.skipped.Set(float64(r.Skipped))
		}
		if !r.DryRun {
			m.SetLastSuccess(r.Finished)
		}
	case r.Status == "held" && !r.Partial:
		m.skipped.Set(float64(r.Skipped))
	}
}

// SetLastSuccess sets scimbridge_sync_last_success_timestamp_seconds, e.g.
// at start from the run history, so a restart does not look like a stall.
func (m *Metrics) SetLastSuccess(t time.Time) {
	m.lastSuccess.Set(float64(t.UnixNano()) / 1e9)
}

// PushRequest records one answer of the push target (status 0: none came)
// to a request for path (relative to the target's base URL).
func (m *Metrics) PushRequest(method, path string, status int) {
	code := "error"
	if status > 0 {
		code = strconv.Itoa(status)
	}
	m.pushRequests.WithLabelValues(method, Resource(path), code).Inc()
}

// SCIMRequest records one answered /scim/v2 request for path (below /scim/v2).
func (m *Metrics) SCIMRequest(path string, status int, took time.Duration) {
	m.scimRequests.WithLabelValues(Resource(path), strconv.Itoa(status)).Inc()
	m.scimDuration.Observe(took.Seconds())
}

// resources are the SCIM endpoints a label may name; anything else is "other".
var resources = map[string]bool{"Users": true, "Groups": true, "ServiceProviderConfig": true,
	"ResourceTypes": true, "Schemas": true, "Bulk": true, "Me": true, ".search": true}

// Resource names the SCIM endpoint of a path such as "/Users/2819c223…" or
// "/scim/v2/Groups": the first segment that is a SCIM endpoint, else
// "other". Ids and names never reach a label.
func Resource(path string) string {
	path, _, _ = strings.Cut(path, "?")
	for seg := range strings.SplitSeq(path, "/") {
		if resources[seg] {
			return seg
		}
	}
	return "other"
}

// Handler serves the metrics in the Prometheus text format. With a token,
// a request must carry "Authorization: Bearer <token>" or gets 401.
func (m *Metrics) Handler(token string) http.Handler {
	h := promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		// A collector that cannot read (no /proc in a bare chroot, a busy
		// store) costs its own metrics, not the scrape.
		ErrorHandling: promhttp.ContinueOnError,
	})
	if token == "" {
		return h
	}
	want := []byte("Bearer " + token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), want) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="metrics"`)
			http.Error(w, "metrics need the bearer token of SCIMBRIDGE_METRICS_TOKEN", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// storeCollector reads the store's counts on each scrape, so the gauges
// always equal what the store serves, whoever changed it.
type storeCollector struct{ counts CountFunc }

var (
	usersDesc       = prometheus.NewDesc("scimbridge_users", "Users the store serves now.", nil, nil)
	groupsDesc      = prometheus.NewDesc("scimbridge_groups", "Groups the store serves now.", nil, nil)
	pushPendingDesc = prometheus.NewDesc("scimbridge_push_pending", "Changes not yet delivered to the push target.", nil, nil)
	pushFailedDesc  = prometheus.NewDesc("scimbridge_push_failed", "Resources the push target refused; retried next run.", nil, nil)
)

// scrapeTimeout bounds the store queries of one scrape.
const scrapeTimeout = 10 * time.Second

func (c *storeCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- usersDesc
	ch <- groupsDesc
	ch <- pushPendingDesc
	ch <- pushFailedDesc
}

func (c *storeCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
	defer cancel()
	n, err := c.counts(ctx)
	if err != nil {
		for _, d := range []*prometheus.Desc{usersDesc, groupsDesc, pushPendingDesc, pushFailedDesc} {
			ch <- prometheus.NewInvalidMetric(d, err)
		}
		return
	}
	ch <- prometheus.MustNewConstMetric(usersDesc, prometheus.GaugeValue, float64(n.Users))
	ch <- prometheus.MustNewConstMetric(groupsDesc, prometheus.GaugeValue, float64(n.Groups))
	ch <- prometheus.MustNewConstMetric(pushPendingDesc, prometheus.GaugeValue, float64(n.PushPending))
	ch <- prometheus.MustNewConstMetric(pushFailedDesc, prometheus.GaugeValue, float64(n.PushFailed))
}
