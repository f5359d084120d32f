package node

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/quarrychain/quarry/node/buildinfo"
)

// registerBuildInfo exports quarry_build_info{version,revision,goversion},
// a gauge that is always 1, in the manner of Prometheus' own *_build_info:
// dashboards join on its labels to show which build each node runs.
func registerBuildInfo(reg prometheus.Registerer, bi buildinfo.Info) {
	if reg == nil {
		return
	}
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "quarry_build_info",
		Help: "The running build: release version, VCS commit (\"unknown\" when the binary records none) and Go version; always 1.",
	}, []string{"version", "revision", "goversion"})
	rev := bi.Revision
	if bi.Modified && rev != buildinfo.Unknown {
		rev += "-dirty"
	}
	g.WithLabelValues(bi.Version, rev, bi.GoVersion).Set(1)
	reg.MustRegister(g)
}
