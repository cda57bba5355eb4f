#!/usr/bin/env bash
# reject-wrk.sh: turning away a locked-out client, measured with wrk against
# its yardstick in the same run. Starts `portcullis serve` on SQLite (the
# built-in chain, or with --one-group the lockout [[username, ip_address]]
# alone) and testkit/cmd/bare-reject, locks a client out with 6 wrong
# logins, then alternates RUNS 10-second wrk runs (2 threads, 32
# connections, one wrong login body) between the host and the yardstick.
# Every answer must be 429, and the host's failure count must grow by at
# least the number of its 429s (every rejection counted durably). Prints
# each run and the medians and their ratio.
#
# Run from the repository root: testkit/bench/reject-wrk.sh [--one-group] [RUNS]
# Needs wrk (Debian package wrk) and curl.
set -euo pipefail
command -v wrk >/dev/null || { echo "reject-wrk.sh needs wrk (apt-get install wrk)"; exit 1; }
lockout=""
if [ "${1:-}" = "--one-group" ]; then
  lockout='backends:
  - {name: lockout, plugin: lockout, config: {failure_limit: 5, cooloff: 30m, lockout_parameters: [[username, ip_address]]}}
  - {name: local, plugin: password}'
  shift
fi
runs=${1:-5}
work=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT
go build -o "$work/portcullis" ./cmd/portcullis
go build -o "$work/bare-reject" ./testkit/cmd/bare-reject

body='{"username":"victim","password":"wrong","client":{"ip":"203.0.113.7"}}'
cat > "$work/reject.lua" <<LUA
-- The same wrong login for a locked-out client; counts the statuses.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '$body'
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) statuses = {} end
function response(status, headers, body) statuses[status] = (statuses[status] or 0) + 1 end
function done(summary, latency, requests)
  for _, t in ipairs(threads) do
    for status, n in pairs(t:get("statuses")) do io.write(string.format("status %d: %d\n", status, n)) end
  end
end
LUA

port=18790
cat > "$work/portcullis.yaml" <<YAML
listen: 127.0.0.1:$port
trusted_proxies: [127.0.0.1/32]
log: {format: json, level: warn}
data_dir: $work
storage: {driver: sqlite, dsn: $work/portcullis.db}
$lockout
YAML
cli() { "$work/portcullis" "$@" --config "$work/portcullis.yaml"; }
printf 'pw-victim\n' | cli users add victim --password-stdin >/dev/null
"$work/portcullis" serve --config "$work/portcullis.yaml" 2>"$work/serve.log" & pids+=($!)
"$work/bare-reject" 127.0.0.1:0 > "$work/bare.addr" & pids+=($!)
for _ in $(seq 100); do
  curl -sf -o /dev/null "http://127.0.0.1:$port/readyz" && [ -s "$work/bare.addr" ] && break
  sleep 0.1
done
bare=$(head -1 "$work/bare.addr")
for _ in 1 2 3 4 5 6; do
  curl -s -o /dev/null -w '%{http_code} ' -X POST -H 'Content-Type: application/json' "http://127.0.0.1:$port/v1/login" -d "$body"
done
echo "(locking the client out)"
failures() { cli lockout list | awk '$3 == "victim" && $2 == "203.0.113.7" {print $5}'; }

declare -a host_rps bare_rps
measure() { # url file -> requests/s, after checking every answer was 429
  wrk -t2 -c32 -d10s -s "$work/reject.lua" "$1" > "$2" || { echo "wrk failed"; exit 1; }
  if grep -E '^status ' "$2" | grep -vq '^status 429:'; then
    echo "AN ANSWER WAS NOT 429:"; cat "$2"; exit 1
  fi
  awk '/^Requests\/sec:/ {print $2}' "$2"
}
for run in $(seq "$runs"); do
  before=$(failures)
  h=$(measure "http://127.0.0.1:$port/v1/login" "$work/host-$run.txt")
  n429=$(awk '/^status 429:/ {n += $3} END {print n}' "$work/host-$run.txt")
  grew=$(( $(failures) - before ))
  [ "$grew" -ge "$n429" ] || { echo "NOT EVERY REJECTION COUNTED: $n429 429s, count grew by $grew"; exit 1; }
  b=$(measure "http://$bare/v1/login" "$work/bare-$run.txt")
  host_rps+=("$h"); bare_rps+=("$b")
  echo "run $run: host $h/s (429s $n429, failure count +$grew), bare $b/s, load $(cut -d' ' -f1 /proc/loadavg)"
done
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
mh=$(median "${host_rps[@]}"); mb=$(median "${bare_rps[@]}")
awk -v h="$mh" -v b="$mb" 'BEGIN {printf "median: host %.0f/s, bare handler %.0f/s, ratio %.1f%%\n", h, b, 100*h/b}'
