package buildinfo

import (
	"runtime/debug"
	"testing"
)

func TestFromBuildInfo(t *testing.T) {
	cases := []struct {
		name    string
		bi      debug.BuildInfo
		version string
		rev     string
		short   string
	}{
		{"checkout", debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Version: "(devel)"},
			Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "0123456789abcdef0123"}, {Key: "vcs.modified", Value: "true"}}},
			Release, "0123456789abcdef0123", "0123456789ab-dirty"},
		{"pseudo-version is not a release", debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Version: "v0.0.0-20260101000000-0123456789ab"}},
			Release, Unknown, Unknown},
		{"release tag", debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Version: "v1.2.3"}},
			"1.2.3", Unknown, Unknown},
		{"pre-release", debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Version: "v1.2.3-rc1"}},
			Release, Unknown, Unknown},
	}
	for _, c := range cases {
		got := FromBuildInfo(&c.bi)
		if got.Version != c.version || got.Revision != c.rev || got.ShortRevision() != c.short || got.GoVersion != "go1.26.0" {
			t.Errorf("%s: got %+v (short %q)", c.name, got, got.ShortRevision())
		}
	}
}

func TestNumericIsCoreEncoding(t *testing.T) {
	for v, want := range map[string]int{"0.10.0": 100000, "0.1.0": 10000, "1.2.3": 1020300, "0.21.1": 210100, "dev": 0, "1.2": 0} {
		if got := (Info{Version: v}).Numeric(); got != want {
			t.Errorf("Numeric(%s) = %d, want %d", v, got, want)
		}
	}
	if got := (Info{Version: "0.1.0"}).UserAgent(); got != "/Quarry:0.1.0/" {
		t.Errorf("UserAgent = %q", got)
	}
	if got := (Info{Version: "0.1.0", Revision: Unknown, GoVersion: "go1.26.0"}).String("quarryd"); got != "quarryd 0.1.0 (commit unknown, go1.26.0)" {
		t.Errorf("String = %q", got)
	}
}
