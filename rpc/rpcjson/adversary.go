package rpcjson

// AdversaryInfo is the result of getadversaryinfo: the lab-only dishonest
// behaviour a node runs (quarryd --adversary, --clock-offset) and what it
// did. An honest node reports mode "honest".
type AdversaryInfo struct {
	Mode string `json:"mode"`
	// ClockOffset is the node's clock offset in seconds (--clock-offset).
	ClockOffset float64 `json:"clockoffset"`
	// State is the strategy's state (selfish: the paper's 0, 0', 1, 2,
	// n=K).
	State string `json:"state,omitempty"`
	// Private and Public are the lengths of the private branch and of the
	// public chain since the fork point.
	Private     int      `json:"private"`
	Public      int      `json:"public"`
	Unpublished []string `json:"unpublished"`
	Mined       uint64   `json:"mined"`
	Withheld    uint64   `json:"withheld"`
	Published   uint64   `json:"published"`
	Releases    uint64   `json:"releases"`
	// Overrides counts releases that orphaned public blocks, and
	// OrphansCaused the public blocks so orphaned.
	Overrides     uint64 `json:"overrides"`
	OrphansCaused uint64 `json:"orphanscaused"`
	Abandoned     uint64 `json:"abandoned"`
	// Twins counts equivocations (pairs of blocks at one height).
	Twins uint64 `json:"twins"`
	// Ignored counts peers' blocks ignored while mining a private branch.
	Ignored uint64 `json:"ignored"`
	// Stalls counts peers' requests held unanswered (stall), Junk the
	// invalid blocks announced (junk).
	Stalls uint64 `json:"stalls"`
	Junk   uint64 `json:"junk"`
	// Races counts the selfish races (state 0') an honest block decided,
	// RacesOnOurs those where it extended this node's block: their ratio
	// estimates Eyal and Sirer's gamma.
	Races       uint64 `json:"races"`
	RacesOnOurs uint64 `json:"racesonours"`
	// Recent are the latest actions, oldest first.
	Recent []string `json:"recent"`
	// TwinSends says which connected peer was sent which twin of the
	// latest equivocations (equivocate; at most 64, oldest first).
	TwinSends []TwinSend `json:"twinsends,omitempty"`
	// JunkKinds counts the junk sent by kind (junk): invalid-block,
	// gossip-garbage, push-garbage, push-oversized.
	JunkKinds map[string]uint64 `json:"junkkinds,omitempty"`
	// DoubleSpends are the double spends of a withhold node run with
	// --withhold-spend, oldest first (the pending one last).
	DoubleSpends []DoubleSpend `json:"doublespends,omitempty"`
}

// TwinSend is one twin of an equivocation sent to one peer alone.
type TwinSend struct {
	Height uint64 `json:"height"`
	// Which is "A" (the twin found first) or "B".
	Which string `json:"which"`
	Twin  string `json:"twin"`
	Peer  string `json:"peer"`
	// Error is set when the push failed.
	Error string `json:"error,omitempty"`
}

// DoubleSpend is one payment a withholding node tried to reverse.
type DoubleSpend struct {
	// Payment is the txid announced publicly, Conflict the txid mined in
	// the private branch (same sender and nonce, paying the attacker).
	Payment  string `json:"payment"`
	Conflict string `json:"conflict,omitempty"`
	// Outcome is pending, reversed (the branch carrying the conflict was
	// released longer than the public chain), abandoned (the public chain
	// won; the payment stands) or failed (Error says why).
	Outcome string `json:"outcome"`
	Error   string `json:"error,omitempty"`
	// ForkHeight and ForkHash are the tip the race started from.
	ForkHeight uint64 `json:"forkheight"`
	ForkHash   string `json:"forkhash"`
	// PaymentHeight is the height of the public block that confirmed the
	// payment (0: none seen); Confirmations are the payment's
	// confirmations on the public chain when the race ended (or now).
	PaymentHeight uint64 `json:"paymentheight"`
	Confirmations int    `json:"confirmations"`
	// Private and Public are the branch lengths since the fork.
	Private int `json:"private"`
	Public  int `json:"public"`
}
