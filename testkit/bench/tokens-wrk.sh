#!/usr/bin/env bash
# tokens-wrk.sh: forward-auth and introspection requests per second,
# measured with wrk against yardsticks in the same run. Starts `portcullis
# serve` on SQLite in a temporary directory, adds a user and an app key,
# logs the user in for an access token, and starts two yardsticks from
# testkit/cmd/bare-forward-auth: "bare" (a net/http handler that reads the
# Authorization header and answers; an HTTP hop and nothing else) and
# "bare+jwt" (the same, also verifying the token with golang-jwt against
# the host's JWKS). Then RUNS rounds (5 unless given) of six wrk runs,
# one after the other (2 threads, 32 connections, DURATION each, 10s
# unless set):
#
#   GET /v1/forward-auth     with the access token: host, bare, bare+jwt
#   POST /v1/token/introspect with the app key and the access token in a
#                            JSON body: host, bare, bare+jwt
#
# Every forward-auth answer must be 200 and every introspection answer 200
# with "active":true (the Lua script counts them, on every side alike).
# Prints each run, the medians and the ratios of the host to each
# yardstick, in requests per second and in CPU time per request of the
# server's process (user + system, from /proc/PID/stat: less sensitive
# than the rate to whatever else runs on the machine).
#
# Run from the repository root: testkit/bench/tokens-wrk.sh [RUNS]
# Needs wrk (Debian package wrk) and curl.
set -euo pipefail
command -v wrk >/dev/null || { echo "tokens-wrk.sh needs wrk (apt-get install wrk)"; exit 1; }
runs=${1:-5}
duration=${DURATION:-10s}
work=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT
go build -o "$work/portcullis" ./cmd/portcullis
go build -o "$work/bare-forward-auth" ./testkit/cmd/bare-forward-auth

echo "machine: $(nproc) CPUs, $(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo), $(go version | cut -d' ' -f3-), $(wrk -v 2>&1 | head -1 | cut -d' ' -f1-2)"

port=18791
cat > "$work/portcullis.yaml" <<YAML
listen: 127.0.0.1:$port
log: {format: json, level: warn}
data_dir: $work/data
storage: {driver: sqlite, dsn: $work/portcullis.db}
tokens: {access_ttl: 2h}
YAML
cli() { "$work/portcullis" "$@" --config "$work/portcullis.yaml"; }
printf 'pw-alice\n' | cli users add alice --password-stdin >/dev/null
appkey=$(cli apps create bench | tail -n 1)
"$work/portcullis" serve --config "$work/portcullis.yaml" 2>"$work/serve.log" & pids+=($!); host_pid=$!
for _ in $(seq 100); do
  curl -sf -o /dev/null "http://127.0.0.1:$port/readyz" && break
  sleep 0.1
done
token=$(curl -sf "http://127.0.0.1:$port/v1/login" -H 'Content-Type: application/json' \
  -d '{"username":"alice","password":"pw-alice"}' | sed -n 's/.*"access_token":"\([^"]*\)".*/\1/p')
[ -n "$token" ] || { echo "no access token from the login"; cat "$work/serve.log"; exit 1; }
"$work/bare-forward-auth" 127.0.0.1:0 > "$work/bare.addr" & pids+=($!); bare_pid=$!
"$work/bare-forward-auth" -jwks "http://127.0.0.1:$port/.well-known/jwks.json" 127.0.0.1:0 > "$work/barejwt.addr" & pids+=($!); barejwt_pid=$!
for _ in $(seq 100); do
  [ -s "$work/bare.addr" ] && [ -s "$work/barejwt.addr" ] && break
  sleep 0.1
done
bare=$(head -1 "$work/bare.addr"); barejwt=$(head -1 "$work/barejwt.addr")

# One Lua script per endpoint, the same for the host and the yardsticks:
# it sets the request and counts the answers that are not what they must be.
lua_counting='
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) good, bad = 0, 0 end
function done(summary, latency, requests)
  local g, b = 0, 0
  for _, t in ipairs(threads) do g = g + t:get("good"); b = b + t:get("bad") end
  io.write(string.format("good %d\nbad %d\n", g, b))
end'
cat > "$work/forward-auth.lua" <<LUA
wrk.method = "GET"
wrk.headers["Authorization"] = "Bearer $token"
function response(status, headers, body)
  if status == 200 then good = good + 1 else bad = bad + 1 end
end
$lua_counting
LUA
cat > "$work/introspect.lua" <<LUA
wrk.method = "POST"
wrk.headers["Authorization"] = "Bearer $appkey"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"token":"$token"}'
function response(status, headers, body)
  if status == 200 and string.find(body, '"active":true', 1, true) then good = good + 1 else bad = bad + 1 end
end
$lua_counting
LUA

# A first answer from each, to fail early with what went wrong.
for base in "127.0.0.1:$port" "$bare" "$barejwt"; do
  code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $token" "http://$base/v1/forward-auth")
  [ "$code" = 200 ] || { echo "forward-auth at $base answered $code"; exit 1; }
  answer=$(curl -s -H "Authorization: Bearer $appkey" -H 'Content-Type: application/json' -d "{\"token\":\"$token\"}" "http://$base/v1/token/introspect")
  case "$answer" in *'"active":true'*) ;; *) echo "introspection at $base answered $answer"; exit 1 ;; esac
done

tick=$(getconf CLK_TCK)
cputicks() { awk '{print $14 + $15}' "/proc/$1/stat"; } # user + system time of a process
# measure pid url lua file: prints "requests/s CPU-µs-per-request" after
# checking every answer, or nothing (and why, on stderr).
measure() {
  local before after bad good
  before=$(cputicks "$1")
  wrk -t2 -c32 -d"$duration" -s "$3" "$2" > "$4" || { echo "wrk failed" >&2; cat "$4" >&2; exit 1; }
  after=$(cputicks "$1")
  bad=$(awk '/^bad / {print $2}' "$4"); good=$(awk '/^good / {print $2}' "$4")
  [ "$bad" = 0 ] || { echo "$bad ANSWERS WERE WRONG ($2):" >&2; cat "$4" >&2; exit 1; }
  if grep -q 'Non-2xx\|Socket errors' "$4"; then echo "ERRORS ($2):" >&2; cat "$4" >&2; exit 1; fi
  awk -v t="$((after - before))" -v hz="$tick" -v n="$good" '/^Requests\/sec:/ {printf "%s %.1f\n", $2, t * 1e6 / hz / n}' "$4"
}
declare -a fa_host fa_bare fa_jwt in_host in_bare in_jwt
declare -a fa_host_cpu fa_bare_cpu fa_jwt_cpu in_host_cpu in_bare_cpu in_jwt_cpu
for run in $(seq "$runs"); do
  read -r a ac < <(measure "$host_pid" "http://127.0.0.1:$port/v1/forward-auth" "$work/forward-auth.lua" "$work/fa-host-$run.txt") || true
  read -r b bc < <(measure "$bare_pid" "http://$bare/v1/forward-auth" "$work/forward-auth.lua" "$work/fa-bare-$run.txt") || true
  read -r c cc < <(measure "$barejwt_pid" "http://$barejwt/v1/forward-auth" "$work/forward-auth.lua" "$work/fa-jwt-$run.txt") || true
  read -r d dc < <(measure "$host_pid" "http://127.0.0.1:$port/v1/token/introspect" "$work/introspect.lua" "$work/in-host-$run.txt") || true
  read -r e ec < <(measure "$bare_pid" "http://$bare/v1/token/introspect" "$work/introspect.lua" "$work/in-bare-$run.txt") || true
  read -r f fc < <(measure "$barejwt_pid" "http://$barejwt/v1/token/introspect" "$work/introspect.lua" "$work/in-jwt-$run.txt") || true
  [ -n "${a:-}" ] && [ -n "${b:-}" ] && [ -n "${c:-}" ] && [ -n "${d:-}" ] && [ -n "${e:-}" ] && [ -n "${f:-}" ] || { echo "a measurement failed"; exit 1; }
  fa_host+=("$a"); fa_bare+=("$b"); fa_jwt+=("$c"); in_host+=("$d"); in_bare+=("$e"); in_jwt+=("$f")
  fa_host_cpu+=("$ac"); fa_bare_cpu+=("$bc"); fa_jwt_cpu+=("$cc"); in_host_cpu+=("$dc"); in_bare_cpu+=("$ec"); in_jwt_cpu+=("$fc")
  echo "run $run: forward-auth host $a/s ($ac µs CPU), bare $b/s ($bc), bare+jwt $c/s ($cc); introspect host $d/s ($dc), bare $e/s ($ec), bare+jwt $f/s ($fc); load $(cut -d' ' -f1 /proc/loadavg)"
done
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
report() { # name host bare bare+jwt host-cpu bare-cpu bare+jwt-cpu
  awk -v n="$1" -v h="$2" -v b="$3" -v j="$4" -v hc="$5" -v bc="$6" -v jc="$7" 'BEGIN {
    printf "median %s: host %.0f/s, bare %.0f/s, bare+jwt %.0f/s; bare/host %.2fx, bare+jwt/host %.2fx\n", n, h, b, j, b/h, j/h
    printf "median %s CPU per request: host %.1f µs, bare %.1f µs, bare+jwt %.1f µs; host/bare %.2fx, host/bare+jwt %.2fx\n", n, hc, bc, jc, hc/bc, hc/jc }'
}
report forward-auth "$(median "${fa_host[@]}")" "$(median "${fa_bare[@]}")" "$(median "${fa_jwt[@]}")" \
  "$(median "${fa_host_cpu[@]}")" "$(median "${fa_bare_cpu[@]}")" "$(median "${fa_jwt_cpu[@]}")"
report introspect "$(median "${in_host[@]}")" "$(median "${in_bare[@]}")" "$(median "${in_jwt[@]}")" \
  "$(median "${in_host_cpu[@]}")" "$(median "${in_bare_cpu[@]}")" "$(median "${in_jwt_cpu[@]}")"
