#!/usr/bin/env bash
# Long campaigns that CI runs only briefly (their seed corpora and 50 crash
# cycles run inside `go test`). Usage:
#   scripts/soak.sh [fuzz-seconds-per-target (default 60)] [crash-cycles (default 500)]
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime="${1:-60}s"
cycles="${2:-500}"

echo "== crash recovery: $cycles SIGKILL cycles"
QUARRY_CRASH_CYCLES="$cycles" go test -count=1 -run '^TestCrashRecovery$' -timeout 2h ./chain/

echo "== fuzzing, $fuzztime per target"
while read -r pkg target; do
  echo "-- $pkg $target"
  go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" "$pkg"
done <<'TARGETS'
./chain/ FuzzDecodeTx
./chain/ FuzzDecodeBlock
./chain/ FuzzDecodeHeader
./chain/ FuzzProcessBlock
./p2p/ FuzzWireDecoders
./rpc/ FuzzHandler
./rpc/ FuzzScan
./rpc/rpcjson/ FuzzParseAmount
./mempool/ FuzzPoolOps
./miner/kernel/ FuzzKernelMatchesReference
./miner/ FuzzTemplateMerkle
./node/wallet/ FuzzDecodeTxHex
./node/wallet/ FuzzParseAmount
TARGETS
echo "soak done"
