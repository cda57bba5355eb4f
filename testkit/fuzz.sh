#!/usr/bin/env bash
# fuzz.sh: fuzz every parser of outside input, then keep what was found.
#
# Run from the repository root: testkit/fuzz.sh [FUZZTIME] [AT_ONCE]
# (defaults 10m and 3). Each target runs for FUZZTIME with one worker,
# AT_ONCE targets at a time. Afterwards the inputs each run found
# interesting (in Go's fuzz cache) are copied into the package's
# testdata/fuzz/<target>/, the seed corpus `go test ./...` replays; commit
# them. A crash stops nothing else: its input is written to testdata by go
# test itself, and the script exits non-zero.
set -uo pipefail
fuzztime=${1:-10m}
at_once=${2:-3}
targets=(
  ./host/httpapi:FuzzLoginBody
  ./host/httpapi:FuzzTokenBodies
  ./host/httpapi:FuzzPermissionCheck
  ./host/httpapi:FuzzClientFacts
  ./host/config:FuzzParse
  ./host/usernames:FuzzCanonical
  ./plugins/lockout:FuzzParseConfig
  ./plugins/mobiledevice:FuzzParseConfig
  ./plugins/mobiledevice:FuzzCheckNonce
  ./plugins/otp:FuzzParseConfig
  ./plugins/otp:FuzzCheckAnswer
  ./plugins/password:FuzzParseConfig
  ./plugins/password:FuzzStoredHash
  ./sdk/strictjson:FuzzCheck
  ./sdk/strictjson:FuzzValidTokens
)
logs=$(mktemp -d)
cache=$(go env GOCACHE)/fuzz
module=$(go list -m)
failed=0
run() {
  local pkg=${1%%:*} name=${1##*:}
  go test "$pkg" -run '^$' -fuzz "^$name\$" -fuzztime "$fuzztime" -parallel 1 > "$logs/$name-${pkg//\//_}.log" 2>&1
}
running=0
for t in "${targets[@]}"; do
  run "$t" &
  running=$((running + 1))
  if [ "$running" -ge "$at_once" ]; then
    wait -n || failed=1
    running=$((running - 1))
  fi
done
while [ "$running" -gt 0 ]; do
  wait -n || failed=1
  running=$((running - 1))
done
for t in "${targets[@]}"; do
  pkg=${t%%:*} name=${t##*:}
  log="$logs/$name-${pkg//\//_}.log"
  dir="$pkg/testdata/fuzz/$name"
  mkdir -p "$dir"
  cp -n "$cache/$module/${pkg#./}/$name/"* "$dir/" 2>/dev/null
  last=$(grep -E '^fuzz: elapsed' "$log" | tail -1)
  printf '%-20s %-22s corpus %4d files  %s\n' "$pkg" "$name" "$(ls "$dir" | wc -l)" "${last:-$(tail -3 "$log")}"
  grep -q '^--- FAIL\|^FAIL' "$log" && { echo "  FAILED:"; sed 's/^/    /' "$log" | tail -30; }
done
rm -rf "$logs"
exit $failed
