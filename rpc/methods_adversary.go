package rpc

import (
	"encoding/json"

	"github.com/quarrychain/quarry/rpc/rpcjson"
)

// AdversaryBackend is implemented by a Backend that can run the lab's
// dishonest behaviours. A Backend without it answers getadversaryinfo
// with mode "honest".
type AdversaryBackend interface {
	AdversaryInfo() rpcjson.AdversaryInfo
}

func adversaryMethods() []*method {
	return []*method{
		{name: "getadversaryinfo", category: "Lab", sub: subNone,
			summary: "Returns the dishonest behaviour this node runs for lab experiments (quarryd --adversary, --clock-offset; dev and regtest only) and what it did: blocks mined, withheld, published, releases, honest blocks orphaned, twins announced and which peer was sent which twin, requests stalled, junk sent by kind. An honest node reports mode \"honest\".",
			result:  `{ "mode", "clockoffset", "state", "private", "public", "unpublished", "mined", "withheld", "published", "releases", "overrides", "orphanscaused", "abandoned", "twins", "ignored", "stalls", "junk", "races", "racesonours", "recent", "twinsends": [{ "height", "which", "twin", "peer", "error" }], "junkkinds" }`,
			run:     (*call).getAdversaryInfo},
	}
}

func (c *call) getAdversaryInfo() (json.RawMessage, error) {
	if ab, ok := c.s.backend.(AdversaryBackend); ok {
		return marshal(ab.AdversaryInfo())
	}
	return marshal(rpcjson.AdversaryInfo{Mode: "honest", Unpublished: []string{}, Recent: []string{}})
}
