#!/usr/bin/env bash
# vulncheck.sh runs govulncheck on authgate against a local copy of the Go
# vulnerability database, built from the golang.org/x/vulndb module (no
# request to vuln.go.dev), with the toolchain go.mod names.
#
# Run it from the repository root:   scripts/vulncheck.sh [-show verbose]
#
# Environment (defaults in brackets):
#   VULNDB_VERSION [v0.0.0-20261105234957-e22db6528018]  the x/vulndb module version
#   GOVULNCHECK_VERSION [v1.9.0]                         golang.org/x/vuln
#   WORK [.bench/vuln]                                    tools and the generated database
set -euo pipefail
export GOTOOLCHAIN=go1.27.3
VULNDB_VERSION=${VULNDB_VERSION:-v0.0.0-20261105234957-e22db6528018}
GOVULNCHECK_VERSION=${GOVULNCHECK_VERSION:-v1.9.0}
WORK=$(realpath -m "${WORK:-.bench/vuln}")
mkdir -p "$WORK/bin"
GOBIN="$WORK/bin" go install "golang.org/x/vuln/cmd/govulncheck@$GOVULNCHECK_VERSION"
GOBIN="$WORK/bin" go install "golang.org/x/vulndb/cmd/indexdb@$VULNDB_VERSION"
src=$(go mod download -json "golang.org/x/vulndb@$VULNDB_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
rm -rf "$WORK/db"
"$WORK/bin/indexdb" -vulns "$src/data/osv" -out "$WORK/db"
"$WORK/bin/govulncheck" -db "file://$WORK/db" "$@" ./...
