#!/usr/bin/env bash
# The project's test command (README: "Run the tests").
#   - gofmt check, go vet, staticcheck and errcheck (pinned), and the
#     race-enabled test suite over every package.
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

# Linters, pinned: staticcheck, and errcheck for errors dropped without a
# word (writes of text to terminals and responses are excluded in
# scripts/errcheck-excludes.txt; an intentional discard is written "_ =").
echo "== staticcheck"
go run honnef.co/go/tools/cmd/staticcheck@v0.7.0 ./...
echo "== errcheck"
go run github.com/kisielk/errcheck@v1.9.0 -ignoretests -exclude scripts/errcheck-excludes.txt ./...

echo "== go test -race"
go test -race -count=1 -timeout 20m ./...
