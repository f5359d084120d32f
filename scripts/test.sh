#!/usr/bin/env bash
# The project's test command (README: "Run the tests").
#   - gofmt check, go vet, and the race-enabled test suite over every package.
# Long soak and fuzz campaigns: scripts/soak.sh (CI runs their seed corpora
# and 50 crash cycles here, inside go test).
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
  echo "gofmt would change:"; echo "$unformatted"; exit 1
fi

echo "== go vet"
go vet ./...

echo "== go test -race"
go test -race -count=1 -timeout 20m ./...
