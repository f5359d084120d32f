package buildinfo

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
)

// Release is the version of this source tree, used when the binary carries
// no release module version (a build from a checkout).
const Release = "0.1.0"

// Unknown is reported for a field the binary does not record.
const Unknown = "unknown"

// Info describes a build. It is a plain value, safe for concurrent reads.
type Info struct {
	// Version is the release version without a leading "v", e.g. "0.1.0".
	Version string
	// Revision is the VCS commit the binary was built from, or Unknown.
	Revision string
	// Modified is true when the checkout had uncommitted changes.
	Modified bool
	// GoVersion is the toolchain that built the binary, e.g. "go1.26.0".
	GoVersion string
}

// Read returns the running binary's build information.
func Read() Info {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return Info{Version: Release, Revision: Unknown, GoVersion: runtime.Version()}
	}
	return FromBuildInfo(bi)
}

// FromBuildInfo extracts an Info from the go command's build record.
func FromBuildInfo(bi *debug.BuildInfo) Info {
	info := Info{Version: Release, Revision: Unknown, GoVersion: bi.GoVersion}
	if info.GoVersion == "" {
		info.GoVersion = runtime.Version()
	}
	if v := strings.TrimPrefix(bi.Main.Version, "v"); v != bi.Main.Version && isRelease(v) {
		info.Version = v
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			if s.Value != "" {
				info.Revision = s.Value
			}
		case "vcs.modified":
			info.Modified = s.Value == "true"
		}
	}
	return info
}

// isRelease reports whether v is MAJOR.MINOR.PATCH with nothing after it
// (pseudo-versions and pre-releases are not releases).
func isRelease(v string) bool {
	_, ok := parse(v)
	return ok
}

func parse(v string) ([3]int, bool) {
	var out [3]int
	parts := strings.Split(v, ".")
	if len(parts) != 3 {
		return out, false
	}
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 || n > 99 || (i > 0 && p != strconv.Itoa(n)) {
			return out, false
		}
		out[i] = n
	}
	return out, true
}

// Numeric is the version in Bitcoin Core's integer encoding
// (1000000*major + 10000*minor + 100*patch: 0.10.0 is 100000, 0.1.0 is
// 10000), as getnetworkinfo's "version" reports it. It is 0 when the
// version is not MAJOR.MINOR.PATCH.
func (i Info) Numeric() int {
	v, ok := parse(i.Version)
	if !ok {
		return 0
	}
	return 1_000_000*v[0] + 10_000*v[1] + 100*v[2]
}

// UserAgent is the text identity in Core's subversion form, e.g.
// "/Quarry:0.1.0/".
func (i Info) UserAgent() string { return "/Quarry:" + i.Version + "/" }

// ShortRevision is the first 12 characters of the commit (or Unknown),
// with "-dirty" when the checkout was modified.
func (i Info) ShortRevision() string {
	r := i.Revision
	if len(r) > 12 {
		r = r[:12]
	}
	if i.Modified && r != Unknown {
		r += "-dirty"
	}
	return r
}

// String is the --version line of a program, e.g.
// "quarryd 0.1.0 (commit 1a2b3c4d5e6f, go1.26.0)".
func (i Info) String(program string) string {
	return fmt.Sprintf("%s %s (commit %s, %s)", program, i.Version, i.ShortRevision(), i.GoVersion)
}
