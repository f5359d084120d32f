// Package quarry is the root of the Quarry proof-of-work node. The daemon is
// cmd/quarryd, the client cmd/quarryctl; see README.md and each package's doc.go.
package quarry
