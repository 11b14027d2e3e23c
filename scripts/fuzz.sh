#!/usr/bin/env bash
# Runs every Go fuzz target in the module for a fixed time each.
#
#   scripts/fuzz.sh [FUZZTIME]    FUZZTIME as go test takes it: 3s (default), 10m, 500x
#
# CI runs it with a few seconds per target; a recorded long run uses 10m and
# keeps its output (see docs/TESTING.md). A failing input is written by the
# go command under the package's testdata/fuzz folder: commit it, fix the
# bug, and the plain test run keeps replaying it.
set -euo pipefail
cd "$(dirname "$0")/.."

fuzztime=${1:-3s}
failed=0
count=0

# Each line of the search is FILE:func FuzzName(...
while IFS=: read -r file line; do
	name=$(sed -E 's/^func (Fuzz[A-Za-z0-9_]*).*/\1/' <<<"$line")
	pkg="./$(dirname "$file")"
	count=$((count + 1))
	echo "== $pkg $name ($fuzztime)"
	if ! go test -run '^$' -fuzz "^${name}\$" -fuzztime "$fuzztime" "$pkg"; then
		echo "FUZZ FAILURE: $pkg $name"
		failed=$((failed + 1))
	fi
done < <(grep -rE --include='*_test.go' '^func Fuzz[A-Za-z0-9_]*\(' . | sed 's#^\./##' | sort)

echo "fuzz targets run: $count, failed: $failed"
[ "$failed" -eq 0 ]
