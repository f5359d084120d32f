package rpc_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"github.com/quarrychain/quarry/rpc"
	"github.com/quarrychain/quarry/rpc/rpctest"
)

// gaugeValue returns the summed value of a metric family (0 if absent).
func gaugeValue(t testing.TB, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	return sumFamily(t, reg, name, nil)
}

// sumFamily sums the samples of a family whose labels include want.
func sumFamily(t testing.TB, reg *prometheus.Registry, name string, want map[string]string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if !hasLabels(m, want) {
				continue
			}
			switch {
			case m.Gauge != nil:
				sum += m.Gauge.GetValue()
			case m.Counter != nil:
				sum += m.Counter.GetValue()
			case m.Histogram != nil:
				sum += float64(m.Histogram.GetSampleCount())
			}
		}
	}
	return sum
}

func hasLabels(m *dto.Metric, want map[string]string) bool {
	for k, v := range want {
		found := false
		for _, lp := range m.GetLabel() {
			if lp.GetName() == k && lp.GetValue() == v {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	return true
}

func TestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	s := newServer(t, rpctest.New(), func(c *rpc.Config) { c.Registerer = reg })
	for _, body := range []string{
		countReq, countReq,
		`{"jsonrpc":"2.0","id":1,"method":"getblockhash","params":[99]}`,
		`{"jsonrpc":"2.0","id":1,"method":"nosuch1"}`,
		`{"jsonrpc":"2.0","id":1,"method":"nosuch2"}`,
		`[{"jsonrpc":"2.0","id":1,"method":"getblockcount"},{"jsonrpc":"2.0","id":2,"method":"nosuch3"}]`,
	} {
		post(t, s.Handler(), body)
	}
	problems, err := testutil.GatherAndLint(reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
	checks := []struct {
		labels map[string]string
		want   float64
	}{
		{map[string]string{"method": "getblockcount", "outcome": "ok"}, 3},
		{map[string]string{"method": "getblockhash", "outcome": "error"}, 1},
		{map[string]string{"method": "unknown", "outcome": "error"}, 3},
	}
	for _, c := range checks {
		if got := sumFamily(t, reg, "quarry_rpc_requests_total", c.labels); got != c.want {
			t.Errorf("requests_total%v = %v, want %v", c.labels, got, c.want)
		}
	}
	if got := sumFamily(t, reg, "quarry_rpc_request_duration_seconds", map[string]string{"method": "getblockcount"}); got != 3 {
		t.Errorf("duration samples = %v, want 3", got)
	}
	// The method label never takes a value outside the method table.
	known := map[string]bool{"unknown": true, "subscribe": true, "unsubscribe": true}
	for _, m := range rpc.MethodNames() {
		known[m] = true
	}
	mfs, _ := reg.Gather()
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if lp.GetName() == "method" && !known[lp.GetValue()] {
					t.Errorf("%s has unbounded method label %q", mf.GetName(), lp.GetValue())
				}
			}
		}
	}
	// Failed authentication is counted by reason.
	req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(countReq))
	req.Header.Set("Authorization", basicAuth("x", "y"))
	s.Handler().ServeHTTP(httptest.NewRecorder(), req)
	if got := sumFamily(t, reg, "quarry_rpc_http_rejected_total", map[string]string{"reason": "unauthorized"}); got != 1 {
		t.Errorf("rejected{unauthorized} = %v, want 1", got)
	}
}
