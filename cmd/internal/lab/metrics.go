package lab

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// ScrapeMetric fetches a Prometheus text page from url and sums the
// samples of the metric name whose label text contains every filter
// string (for example `topic="blocks"`); found is false when no sample
// matched.
func ScrapeMetric(ctx context.Context, url, name string, filters ...string) (sum float64, found bool, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, false, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, false, err
	}
	defer func() { _ = resp.Body.Close() }() // read or abandoned; nothing to report
	if resp.StatusCode != http.StatusOK {
		return 0, false, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		rest, ok := strings.CutPrefix(line, name)
		if !ok || rest == "" || (rest[0] != ' ' && rest[0] != '{') {
			continue // another metric, a longer name with this prefix, or a comment
		}
		match := true
		for _, f := range filters {
			match = match && strings.Contains(rest, f)
		}
		if !match {
			continue
		}
		f := strings.Fields(rest[strings.LastIndexByte(rest, '}')+1:])
		if len(f) == 0 {
			continue
		}
		v, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			return 0, false, fmt.Errorf("metric line %q: %w", line, err)
		}
		sum += v
		found = true
	}
	return sum, found, sc.Err()
}

// Metric sums node i's samples of a metric (see ScrapeMetric).
func (l *Lab) Metric(ctx context.Context, i int, name string, filters ...string) (float64, error) {
	n, err := l.Node(i)
	if err != nil {
		return 0, err
	}
	v, _, err := ScrapeMetric(ctx, n.MetricsURL(), name, filters...)
	return v, err
}
