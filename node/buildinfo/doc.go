// Package buildinfo says which build of Quarry is running: the release
// version, the VCS commit and the Go toolchain, read once from the binary
// with runtime/debug.ReadBuildInfo. quarryd and quarryctl print it for
// --version, getnetworkinfo reports it (version as Bitcoin Core's integer
// encoding, subversion as the text identity "/Quarry:0.1.0/"), and the node
// exports it as the quarry_build_info gauge.
//
// The release version is the Release constant unless the main module was
// built at a release tag (a plain vX.Y.Z module version), which then wins.
// The commit comes from the vcs.revision setting the go command embeds when
// it builds from a checkout with -buildvcs on (the default); binaries built
// with -buildvcs=false, or outside a checkout, report "unknown".
package buildinfo
