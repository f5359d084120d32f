package node

import (
	"context"
	"encoding/json"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/quarrychain/quarry/node/buildinfo"
)

// grafanaDir holds the dashboards and provisioning shipped with the node.
const grafanaDir = "../configs/grafana"

// scrapeLabels are added by Prometheus (scrape config) or by the query
// language, not by the node.
var scrapeLabels = map[string]bool{"node": true, "le": true, "instance": true, "job": true}

// dashboardQuery is one PromQL expression of a dashboard file.
type dashboardQuery struct {
	file, expr string
}

// dashboardQueries returns every PromQL expression in configs/grafana:
// panel targets, annotations and template variables.
func dashboardQueries(t *testing.T) []dashboardQuery {
	t.Helper()
	var out []dashboardQuery
	err := filepath.WalkDir(grafanaDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || filepath.Ext(path) != ".json" {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		var doc any
		if err := json.Unmarshal(b, &doc); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		var walk func(v any)
		walk = func(v any) {
			switch x := v.(type) {
			case map[string]any:
				for k, val := range x {
					if s, ok := val.(string); ok && (k == "expr" || k == "query" || k == "definition") {
						out = append(out, dashboardQuery{file: path, expr: s})
					}
					walk(val)
				}
			case []any:
				for _, val := range x {
					walk(val)
				}
			}
		}
		walk(doc)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(out) < 10 {
		t.Fatalf("only %d queries found under %s", len(out), grafanaDir)
	}
	return out
}

var (
	metricNameRE = regexp.MustCompile(`\bquarry_[a-z0-9_]+`)
	byClauseRE   = regexp.MustCompile(`\b(?:by|without)\s*\(([^)]*)\)`)
)

// family maps a series name a query uses to the family that exports it:
// name_bucket, name_sum and name_count belong to the histogram name.
func family(families map[string]*dto.MetricFamily, name string) (*dto.MetricFamily, bool) {
	if mf, ok := families[name]; ok {
		return mf, true
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(name, suffix); ok {
			if mf, ok := families[base]; ok && (mf.GetType() == dto.MetricType_HISTOGRAM || mf.GetType() == dto.MetricType_SUMMARY) {
				return mf, true
			}
		}
	}
	return nil, false
}

// TestDashboardMetricsExistOnAFreshNode scrapes a node that has just
// started (no block mined, no peer, no RPC call) over HTTP and checks that
// every metric the Grafana dashboards query is exported, with series that
// carry every label the query groups by, and that the whole registry
// passes Prometheus' lint (promtool check metrics).
func TestDashboardMetricsExistOnAFreshNode(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	n, _ := startNode(t, testConfig(t))

	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+n.MetricsAddr()+"/metrics", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}

	series := 0
	for _, mf := range families {
		series += len(mf.GetMetric())
	}
	t.Logf("a fresh node exports %d families, %d series", len(families), series)
	checked := map[string]bool{}
	for _, q := range dashboardQueries(t) {
		var groupBy []string
		for _, m := range byClauseRE.FindAllStringSubmatch(q.expr, -1) {
			for _, l := range strings.Split(m[1], ",") {
				if l = strings.TrimSpace(l); l != "" && !scrapeLabels[l] {
					groupBy = append(groupBy, l)
				}
			}
		}
		for _, name := range metricNameRE.FindAllString(q.expr, -1) {
			checked[name] = true
			mf, ok := family(families, name)
			if !ok {
				t.Errorf("%s: %s is not exported by a fresh node (query %q)", q.file, name, q.expr)
				continue
			}
			for _, l := range groupBy {
				found := false
				for _, m := range mf.GetMetric() {
					if slices.ContainsFunc(m.GetLabel(), func(lp *dto.LabelPair) bool { return lp.GetName() == l }) {
						found = true
						break
					}
				}
				if !found {
					t.Errorf("%s: no series of %s has label %q, which the query groups by (%q)", q.file, name, l, q.expr)
				}
			}
		}
	}
	names := make([]string, 0, len(checked))
	for name := range checked {
		names = append(names, name)
	}
	sort.Strings(names)
	t.Logf("%d metric names checked: %s", len(names), strings.Join(names, " "))

	// Labelled series are initialised: a fresh node exports every label
	// value of a vector, so rate() sees the first event.
	for name, labels := range map[string][]string{
		"quarry_p2p_gossip_messages_received_total": {"topic=blocks,result=accept", "topic=txs,result=reject"},
		"quarry_p2p_sync_sessions_total":            {"result=ok", "result=error"},
		"quarry_p2p_penalties_total":                {"reason=invalid_block", "reason=rate_limit"},
		"quarry_p2p_connections_refused_total":      {"reason=banned"},
		"quarry_rpc_requests_total":                 {"method=getblockcount,outcome=ok", "method=unknown,outcome=error"},
	} {
		mf := families[name]
		for _, want := range labels {
			if !hasSeries(mf, want) {
				t.Errorf("%s{%s} is not exported by a fresh node", name, want)
			}
		}
	}

	// The build is identified.
	bi := buildinfo.Read()
	if mf := families["quarry_build_info"]; mf == nil || len(mf.GetMetric()) != 1 ||
		!hasSeries(mf, "version="+bi.Version+",goversion="+bi.GoVersion) || mf.GetMetric()[0].GetGauge().GetValue() != 1 {
		t.Errorf("quarry_build_info: %v", mf)
	}
	// No metric of the old sync naming scheme is left.
	for name := range families {
		if strings.HasPrefix(name, "quarry_sync_") {
			t.Errorf("%s: sync metrics are quarry_p2p_sync_*", name)
		}
	}

	problems, err := testutil.GatherAndLint(n.Gatherer())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("metric lint: %s: %s", p.Metric, p.Text)
	}
}

// hasSeries reports whether mf has a series with every name=value pair of
// want ("a=x,b=y").
func hasSeries(mf *dto.MetricFamily, want string) bool {
	if mf == nil {
		return false
	}
	pairs := strings.Split(want, ",")
	for _, m := range mf.GetMetric() {
		got := map[string]string{}
		for _, lp := range m.GetLabel() {
			got[lp.GetName()] = lp.GetValue()
		}
		all := true
		for _, p := range pairs {
			k, v, _ := strings.Cut(p, "=")
			if got[k] != v {
				all = false
				break
			}
		}
		if all {
			return true
		}
	}
	return false
}
