#!/usr/bin/env bash
# bench.sh measures what authgate costs in front of an upstream, next to
# nginx's plain proxy_pass to the same upstream, all on 127.0.0.1.
#
# Run it from the repository root:   scripts/bench.sh
#
# Targets, each driven by wrk with the same threads and connections:
#   direct         the upstream itself: nginx answering `return 200 "ok"`
#   nginx          a second nginx, proxy_pass to that upstream (keepalive 64),
#                  access_log off
#   nginx-log      the same nginx config with an access log (one line per
#                  request, to .bench/nginx-access.log): the like of
#                  authgate at log level info
#   authgate       authgate proxying to it, rule /** authenticated, with
#                  Authorization: Bearer <token>; log.level info (one line per
#                  request, stderr appended to .bench/authgate-info.log)
#   authgate-warn  the same with log.level warn (no request log lines)
#   fa-authgate    (FORWARD=1) nginx with examples/nginx.conf, as the
#                  forward-auth docs show: auth_request to authgate-warn's
#                  /auth/verify, then proxy_pass to the upstream. authgate
#                  runs with server.fast_path on, so its event loops answer
#                  the subrequests; the summary prints how many requests
#                  the loops answered and how many connections they handed
#                  to the Fiber app (from authgate-warn's /metrics on
#                  ADMIN_PORT [18092])
#   fa-checker     (FORWARD=1) the same nginx config, auth_request to
#                  scripts/jwtcheck, a minimal Go JWT checker (EdDSA with
#                  authgate's key; no revocation, rules or identity headers)
#   authgate-fiber (TRACING=1) authgate-warn with server.fast_path: false:
#                  the Fiber app serves every request, as with tracing on
#   authgate-trace (TRACING=1) authgate-warn with tracing on (which turns
#                  the fast path off), sample_ratio TRACE_RATIO, exporting
#                  OTLP/HTTP to a sink (nginx `return 200` on OTLP_PORT)
#
# Environment (defaults in brackets):
#   DURATION [10s]  wrk duration per target and run
#   WARMUP   [2s]   wrk warm-up per target before the first run
#   THREADS  [2]    wrk threads        CONNS [64]  wrk connections
#   RUNS     [1]    runs per target; the table shows the median by req/s
#   UPSTREAM_PORT [18081]  NGINX_PORT [18082]  NGINX_LOG_PORT [18085]
#   AUTHGATE_PORT [18083]  AUTHGATE_WARN_PORT [18084]
#   FORWARD  [0]    1: also the forward-auth targets (ports FA_PORT [18086],
#                   FA_CHECK_PORT [18087], CHECKER_PORT [18088])
#   RULES    [0]    rules before the final /** in authgate's config, all
#                   under /bench/ (the request matches none of them), to
#                   measure rule matching with 1000 or 10000 rules
#   NGINX_KEEPALIVE [64]  the nginx targets' upstream keepalive (1024 for
#                   the many-clients comparison)
#   TRACING  [0]    1: also authgate-fiber and authgate-trace (ports
#                   FIBER_PORT [18089], TRACE_PORT [18090], OTLP_PORT [18091];
#                   TRACE_RATIO [1], the share of requests traced)
#   Many clients: CONNS=1000 or CONNS=5000 (the script raises `ulimit -n`
#   to 4 × CONNS + 1024 and fails if it cannot).
#
# Examples (the lead's measurement; each prints ratios against nginx from
# the same run):
#   RUNS=3 scripts/bench.sh                                   # 64 clients
#   RUNS=3 CONNS=1000 NGINX_KEEPALIVE=64 scripts/bench.sh     # many clients
#   RUNS=3 CONNS=5000 NGINX_KEEPALIVE=1024 scripts/bench.sh
#   RUNS=3 FORWARD=1 scripts/bench.sh                         # forward-auth
#   RUNS=3 RULES=1000 scripts/bench.sh; RUNS=3 RULES=10000 scripts/bench.sh
#   RUNS=3 TRACING=1 scripts/bench.sh; RUNS=3 TRACING=1 TRACE_RATIO=0.01 scripts/bench.sh
#   DURATION=1s WARMUP=1s FORWARD=1 RULES=100 scripts/bench.sh  # smoke test
#
# For each target the table shows req/s, the p50 and p99 latency, the CPU
# time the server under test spent per request (for fa-*: nginx and the
# checker together), its resident memory after the run (RSS, MiB, with its
# children: the nginx workers), and the req/s ratios to nginx and to the
# upstream alone.
#
# Every process started here is stopped on exit. Nothing but 127.0.0.1 is
# ever contacted. Needs go, wrk, nginx and curl.
set -euo pipefail
# go.mod names Go 1.27.3; older go commands fetch it when told to.
export GOTOOLCHAIN=${GOTOOLCHAIN:-go1.27.3}

DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-2s}
THREADS=${THREADS:-2}
CONNS=${CONNS:-64}
RUNS=${RUNS:-1}
UPSTREAM_PORT=${UPSTREAM_PORT:-18081}
NGINX_PORT=${NGINX_PORT:-18082}
NGINX_LOG_PORT=${NGINX_LOG_PORT:-18085}
AUTHGATE_PORT=${AUTHGATE_PORT:-18083}
AUTHGATE_WARN_PORT=${AUTHGATE_WARN_PORT:-18084}
FORWARD=${FORWARD:-0}
ADMIN_PORT=${ADMIN_PORT:-18092}
FA_PORT=${FA_PORT:-18086}
FA_CHECK_PORT=${FA_CHECK_PORT:-18087}
CHECKER_PORT=${CHECKER_PORT:-18088}
RULES=${RULES:-0}
TRACING=${TRACING:-0}
FIBER_PORT=${FIBER_PORT:-18089}
TRACE_PORT=${TRACE_PORT:-18090}
OTLP_PORT=${OTLP_PORT:-18091}
TRACE_RATIO=${TRACE_RATIO:-1}
NGINX_KEEPALIVE=${NGINX_KEEPALIVE:-64}
HOST=127.0.0.1
B=.bench

die() { echo "bench.sh: $*" >&2; exit 1; }

[[ -f go.mod ]] && grep -q '^module authgate$' go.mod || die "run me from the authgate repository root"
missing=()
for tool in go wrk nginx curl; do
	command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if ((${#missing[@]})); then
	die "missing: ${missing[*]}; install wrk, nginx and curl with: apt-get install wrk nginx-light curl"
fi

# Each process holds at most its client connections plus as many upstream
# ones (nginx without a keepalive limit opens one per busy client), plus
# files of its own: 2 x CONNS + 1024 per process (the limit is per process).
want_files=$((2 * CONNS + 1024))
if (($(ulimit -n) < want_files)); then
	ulimit -n "$want_files" 2>/dev/null || die "CONNS=$CONNS needs ulimit -n $want_files (raise the hard limit first)"
fi

port_busy() { (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null; }
for p in "$UPSTREAM_PORT" "$NGINX_PORT" "$NGINX_LOG_PORT" "$AUTHGATE_PORT" "$AUTHGATE_WARN_PORT" $( ((FORWARD)) && echo "$FA_PORT $FA_CHECK_PORT $CHECKER_PORT $ADMIN_PORT"); do
	! port_busy "$p" || die "port $HOST:$p is in use; choose others with UPSTREAM_PORT, NGINX_PORT, NGINX_LOG_PORT, AUTHGATE_PORT, AUTHGATE_WARN_PORT"
done

pids=()
cleanup() {
	local pid
	for pid in "${pids[@]}"; do
		kill -TERM "$pid" 2>/dev/null || true
	done
	for pid in "${pids[@]}"; do
		wait "$pid" 2>/dev/null || true
	done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir -p "$B/tmp"
B=$(cd "$B" && pwd)
rm -rf "$B/data-info" "$B/data-warn" "$B/data-fiber" "$B/data-trace"

echo "== build"
go build -o "$B/authgate" .
((FORWARD)) && go build -o "$B/jwtcheck" ./scripts/jwtcheck

# wait_http URL: until something answers on it (any status), at most 10s.
wait_http() {
	local i
	for i in $(seq 100); do
		curl -s -o /dev/null --max-time 1 "$1" && return 0
		sleep 0.1
	done
	die "nothing answers on $1; see the logs in $B"
}

# nginx_conf NAME PORT HTTP_EXTRA LOCATION_BODY [ACCESS_LOG]: a
# self-contained nginx config.
nginx_conf() {
	cat >"$B/$1.conf" <<EOF
worker_processes auto;
daemon off;
pid $B/$1.pid;
error_log $B/$1-error.log warn;
worker_rlimit_nofile $want_files;
events { worker_connections $want_files; }
http {
    access_log ${5:-off};
    keepalive_requests 1000000;
    keepalive_timeout 65s;
    client_body_temp_path $B/tmp/$1-body;
    proxy_temp_path $B/tmp/$1-proxy;
    fastcgi_temp_path $B/tmp/$1-fastcgi;
    uwsgi_temp_path $B/tmp/$1-uwsgi;
    scgi_temp_path $B/tmp/$1-scgi;
    ${3:-}
    server {
        listen $HOST:$2;
        location / {
            $4
        }
    }
}
EOF
}

echo "== upstream: nginx return 200 \"ok\" on $HOST:$UPSTREAM_PORT"
nginx_conf upstream "$UPSTREAM_PORT" "" 'default_type text/plain; return 200 "ok";'
nginx -p "$B" -c "$B/upstream.conf" -e "$B/upstream-error.log" &
pids+=($!)
declare -A server=([direct]=$!)

echo "== nginx: proxy_pass on $HOST:$NGINX_PORT"
nginx_conf proxy "$NGINX_PORT" \
	"upstream u { server $HOST:$UPSTREAM_PORT; keepalive $NGINX_KEEPALIVE; keepalive_requests 1000000; }" \
	'proxy_pass http://u; proxy_http_version 1.1; proxy_set_header Connection "";'
nginx -p "$B" -c "$B/proxy.conf" -e "$B/proxy-error.log" &
pids+=($!)
server[nginx]=$!

echo "== nginx-log: the same with an access log on $HOST:$NGINX_LOG_PORT"
: >"$B/nginx-access.log"
nginx_conf proxy-log "$NGINX_LOG_PORT" \
	"upstream u { server $HOST:$UPSTREAM_PORT; keepalive $NGINX_KEEPALIVE; keepalive_requests 1000000; }" \
	'proxy_pass http://u; proxy_http_version 1.1; proxy_set_header Connection "";' \
	"$B/nginx-access.log"
nginx -p "$B" -c "$B/proxy-log.conf" -e "$B/proxy-log-error.log" &
pids+=($!)
server[nginx-log]=$!

PASSWORD=bench-password-$RANDOM$RANDOM
HASH=$(printf '%s\n' "$PASSWORD" | "$B/authgate" hash-password)

# start_authgate NAME PORT LEVEL TARGET [EXTRA_YAML]; ADMIN_LISTEN [off] in
# the environment is its admin listener. server.fast_path is on by default:
# the event loops serve (and answer forward-auth).
start_authgate() {
	cat >"$B/$1.yaml" <<EOF
listen: "$HOST:$2"
admin_listen: "${ADMIN_LISTEN:-off}"   # two instances would both want 127.0.0.1:8081
data_dir: $B/data-$1   # the embedded store and the generated signing key
log: {level: $3}
upstreams:
  default: http://$HOST:$UPSTREAM_PORT
tokens: {access_ttl: 2h}
users:
  seed:
    - {username: bench, password_hash: "$HASH", email: bench@example.com, roles: [user]}
trusted_proxies: ["127.0.0.1/32"]
rules:
$(for ((i = 0; i < RULES; i++)); do echo "  - {path: /bench/r$i/**, policy: deny}"; done)
  - {path: /**, policy: authenticated}
${5:-}
EOF
	"$B/authgate" check -config "$B/$1.yaml" >/dev/null
	: >"$B/authgate-$1.log"
	"$B/authgate" -config "$B/$1.yaml" 2>>"$B/authgate-$1.log" &
	pids+=($!)
	server[$4]=$!
}

echo "== authgate on $HOST:$AUTHGATE_PORT (log info) and $HOST:$AUTHGATE_WARN_PORT (log warn)"
start_authgate info "$AUTHGATE_PORT" info authgate
ADMIN_LISTEN=$( ((FORWARD)) && echo "$HOST:$ADMIN_PORT" || echo off) \
	start_authgate warn "$AUTHGATE_WARN_PORT" warn authgate-warn
if ((TRACING)); then
	echo "== authgate-fiber on $HOST:$FIBER_PORT (no fast path), authgate-trace on $HOST:$TRACE_PORT (tracing, ratio $TRACE_RATIO, to the sink on $OTLP_PORT)"
	nginx_conf otlp-sink "$OTLP_PORT" "" 'return 200;'
	nginx -p "$B" -c "$B/otlp-sink.conf" -e "$B/otlp-sink-error.log" &
	pids+=($!)
	start_authgate fiber "$FIBER_PORT" warn authgate-fiber "server: {fast_path: false}"
	start_authgate trace "$TRACE_PORT" warn authgate-trace \
		"tracing: {enabled: true, endpoint: \"http://$HOST:$OTLP_PORT/v1/traces\", sample_ratio: $TRACE_RATIO}"
fi

if ((FORWARD)); then
	# fa_conf NAME PORT AUTH: examples/nginx.conf, as the forward-auth docs
	# show it, inside a self-contained http block.
	fa_conf() {
		nginx_conf "$1" "$2" "" ""
		sed -e "s/{{LISTEN}}/$HOST:$2/" -e "s/{{AUTHGATE}}/$3/" -e "s/{{UPSTREAM}}/$HOST:$UPSTREAM_PORT/" \
			examples/nginx.conf >"$B/$1-site.conf"
		# the generated server block is replaced by the example's
		awk -v site="$B/$1-site.conf" '/^    server \{/ { print "    include " site ";"; skip = 1 } skip && /^    }$/ { skip = 0; next } !skip' \
			"$B/$1.conf" >"$B/$1.conf.new" && mv "$B/$1.conf.new" "$B/$1.conf"
	}
	echo "== forward-auth: nginx with examples/nginx.conf on $HOST:$FA_PORT (authgate) and $HOST:$FA_CHECK_PORT (jwtcheck on $CHECKER_PORT)"
	wait_http "http://$HOST:$AUTHGATE_WARN_PORT/healthz" # it has written its key
	"$B/jwtcheck" -listen "$HOST:$CHECKER_PORT" -key "$B/data-warn/keys/ed25519.pem" 2>"$B/jwtcheck.log" &
	pids+=($!)
	checker=$!
	fa_conf fa "$FA_PORT" "$HOST:$AUTHGATE_WARN_PORT"
	nginx -p "$B" -c "$B/fa.conf" -e "$B/fa-error.log" &
	pids+=($!)
	server[fa-authgate]=$!
	fa_conf fa-check "$FA_CHECK_PORT" "$HOST:$CHECKER_PORT"
	nginx -p "$B" -c "$B/fa-check.conf" -e "$B/fa-check-error.log" &
	pids+=($!)
	server[fa-checker]=$!
	wait_http "http://$HOST:$FA_PORT/"
	wait_http "http://$HOST:$FA_CHECK_PORT/"
fi

wait_http "http://$HOST:$UPSTREAM_PORT/"
wait_http "http://$HOST:$NGINX_PORT/"
wait_http "http://$HOST:$NGINX_LOG_PORT/"
wait_http "http://$HOST:$AUTHGATE_PORT/healthz"
wait_http "http://$HOST:$AUTHGATE_WARN_PORT/healthz"
if ((TRACING)); then
	wait_http "http://$HOST:$OTLP_PORT/"
	wait_http "http://$HOST:$FIBER_PORT/healthz"
	wait_http "http://$HOST:$TRACE_PORT/healthz"
fi

# login PORT: prints an access token.
login() {
	local body tok
	body=$(curl -s --max-time 10 -H 'Content-Type: application/json' \
		-d "{\"username\":\"bench\",\"password\":\"$PASSWORD\"}" "http://$HOST:$1/auth")
	tok=$(printf '%s' "$body" | sed -n 's/.*"access_token":"\([^"]*\)".*/\1/p')
	[[ -n $tok ]] || die "login on $HOST:$1 failed: $body"
	printf '%s' "$tok"
}
TOKEN_INFO=$(login "$AUTHGATE_PORT")
TOKEN_WARN=$(login "$AUTHGATE_WARN_PORT")

# The authenticated path must answer 200 "ok", not a fast 401.
for t in "$AUTHGATE_PORT $TOKEN_INFO" "$AUTHGATE_WARN_PORT $TOKEN_WARN"; do
	set -- $t
	got=$(curl -s --max-time 5 -H "Authorization: Bearer $2" "http://$HOST:$1/bench/ping")
	[[ $got == ok ]] || die "authgate on $HOST:$1 answered $got instead of ok"
done
got=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://$HOST:$AUTHGATE_PORT/bench/ping")
[[ $got == 401 ]] || die "authgate answered $got without a token; the rule is not enforced"

names=(direct nginx nginx-log authgate authgate-warn)
((FORWARD)) && names+=(fa-authgate fa-checker)
((TRACING)) && names+=(authgate-fiber authgate-trace)
declare -A url=(
	[direct]="http://$HOST:$UPSTREAM_PORT/bench/ping"
	[nginx]="http://$HOST:$NGINX_PORT/bench/ping"
	[nginx-log]="http://$HOST:$NGINX_LOG_PORT/bench/ping"
	[authgate]="http://$HOST:$AUTHGATE_PORT/bench/ping"
	[authgate-warn]="http://$HOST:$AUTHGATE_WARN_PORT/bench/ping"
)
declare -A auth=([authgate]="Bearer $TOKEN_INFO" [authgate-warn]="Bearer $TOKEN_WARN")
if ((TRACING)); then
	url[authgate-fiber]="http://$HOST:$FIBER_PORT/bench/ping"
	url[authgate-trace]="http://$HOST:$TRACE_PORT/bench/ping"
	auth[authgate-fiber]="Bearer $(login "$FIBER_PORT")"
	auth[authgate-trace]="Bearer $(login "$TRACE_PORT")"
	for n in authgate-fiber authgate-trace; do
		got=$(curl -s --max-time 5 -H "Authorization: ${auth[$n]}" "${url[$n]}")
		[[ $got == ok ]] || die "$n answered $got instead of ok"
	done
fi
if ((FORWARD)); then
	url[fa-authgate]="http://$HOST:$FA_PORT/bench/ping"
	url[fa-checker]="http://$HOST:$FA_CHECK_PORT/bench/ping"
	auth[fa-authgate]="Bearer $TOKEN_WARN"
	auth[fa-checker]="Bearer $TOKEN_WARN"
	for n in fa-authgate fa-checker; do
		got=$(curl -s --max-time 5 -H "Authorization: ${auth[$n]}" "${url[$n]}")
		[[ $got == ok ]] || die "$n answered $got instead of ok"
	done
fi

# pids_of NAME: the processes whose CPU counts for target NAME: the server
# and its children (the nginx workers); for fa-*, also what nginx asks.
pids_of() {
	local p
	for p in "${server[$1]}" $(pgrep -P "${server[$1]}" || true); do echo "$p"; done
	case $1 in
	fa-authgate) pids_of authgate-warn ;;
	fa-checker) echo "$checker" ;;
	esac
}

# cpu_ticks NAME: user+system CPU time of pids_of NAME, in clock ticks.
cpu_ticks() {
	local t=0 p
	for p in $(pids_of "$1"); do
		[[ -r /proc/$p/stat ]] && t=$((t + $(awk '{ print $14 + $15 }' "/proc/$p/stat")))
	done
	echo "$t"
}
TICK=$(getconf CLK_TCK)

# run_wrk NAME DURATION: prints "req/s p50_ms p99_ms cpu_us_per_request" or
# dies on errors. The CPU is that of the server under test only (the
# upstream for direct; the proxy, not its upstream, for the others).
run_wrk() {
	local args=(-t"$THREADS" -c"$CONNS" -d"$2" --latency)
	[[ -n ${auth[$1]:-} ]] && args+=(-H "Authorization: ${auth[$1]}")
	local out c0 c1
	c0=$(cpu_ticks "$1")
	out=$(wrk "${args[@]}" "${url[$1]}") || die "wrk on $1 failed"
	c1=$(cpu_ticks "$1")
	local rss=0 p
	for p in $(pids_of "$1"); do
		[[ -r /proc/$p/status ]] && rss=$((rss + $(awk '/^VmRSS:/ { print $2 }' "/proc/$p/status")))
	done
	if grep -q 'Non-2xx or 3xx responses' <<<"$out"; then
		echo "$out" >&2
		die "$1 answered non-2xx responses"
	fi
	awk -v ticks=$((c1 - c0)) -v hz="$TICK" -v rss="$rss" '
		function ms(v) {
			if (v ~ /us$/) return substr(v, 1, length(v) - 2) / 1000
			if (v ~ /ms$/) return substr(v, 1, length(v) - 2) + 0
			if (v ~ /s$/) return substr(v, 1, length(v) - 1) * 1000
			if (v ~ /m$/) return substr(v, 1, length(v) - 1) * 60000
			return v
		}
		$1 == "50%" { p50 = ms($2) }
		$1 == "99%" { p99 = ms($2) }
		$1 == "Requests/sec:" { rps = $2 }
		$2 == "requests" && $3 == "in" { n = $1 }
		/Socket errors/ { errs = $0 }
		END {
			if (errs != "") print "bench.sh: " errs > "/dev/stderr"
			printf "%.0f %.3f %.3f %.1f %.0f\n", rps, p50, p99, n ? ticks / hz * 1e6 / n : 0, rss / 1024
		}' <<<"$out"
}

echo "== warm-up ($WARMUP each)"
for n in "${names[@]}"; do
	run_wrk "$n" "$WARMUP" >/dev/null
done

declare -A results
echo "== measure: wrk -t$THREADS -c$CONNS -d$DURATION --latency, $RUNS run(s) per target, interleaved"
for r in $(seq "$RUNS"); do
	for n in "${names[@]}"; do
		res=$(run_wrk "$n" "$DURATION")
		echo "   run $r $n: $res (req/s p50_ms p99_ms cpu_us/req rss_mib)"
		results[$n]+="$res"$'\n'
		[[ $n == authgate ]] && : >"$B/authgate-info.log" # keep the log files small
		[[ $n == nginx-log ]] && : >"$B/nginx-access.log"
	done
done

# median NAME: the run with the median req/s.
median() {
	printf '%s' "${results[$1]}" | sort -n -k1,1 | awk '{ l[NR] = $0 } END { print l[int((NR + 1) / 2)] }'
}
declare -A rps p50 p99 cpu rss
for n in "${names[@]}"; do
	read -r rps[$n] p50[$n] p99[$n] cpu[$n] rss[$n] <<<"$(median "$n")"
done

echo
echo "load: $(uptime | sed 's/.*load average/load average/'), $(nproc) cores"
echo "clients: $CONNS, nginx upstream keepalive: $NGINX_KEEPALIVE, extra rules: $RULES"
printf '%-14s %10s %9s %9s %11s %8s %9s %9s\n' target req/s p50_ms p99_ms cpu_us/req rss_mib vs_nginx vs_direct
for n in "${names[@]}"; do
	printf '%-14s %10s %9s %9s %11s %8s %9.2f %9.2f\n' "$n" "${rps[$n]}" "${p50[$n]}" "${p99[$n]}" "${cpu[$n]}" "${rss[$n]}" \
		"$(awk -v a="${rps[$n]}" -v b="${rps[nginx]}" 'BEGIN { print a / b }')" \
		"$(awk -v a="${rps[$n]}" -v b="${rps[direct]}" 'BEGIN { print a / b }')"
done
printf 'like for like: authgate-warn / nginx = %.2f (no request log on either), authgate / nginx-log = %.2f (one log line per request on both)\n' \
	"$(awk -v a="${rps[authgate-warn]}" -v b="${rps[nginx]}" 'BEGIN { print a / b }')" \
	"$(awk -v a="${rps[authgate]}" -v b="${rps[nginx-log]}" 'BEGIN { print a / b }')"
if ((FORWARD)); then
	printf 'forward-auth: nginx auth_request to authgate / to the minimal checker = %.2f req/s, %.2f CPU per request\n' \
		"$(awk -v a="${rps[fa-authgate]}" -v b="${rps[fa-checker]}" 'BEGIN { print a / b }')" \
		"$(awk -v a="${cpu[fa-authgate]}" -v b="${cpu[fa-checker]}" 'BEGIN { print b ? a / b : 0 }')"
	# authgate_fast_path_total{outcome="served"} counts the requests the
	# loops answered (proxied and forward-auth), handed_over the
	# connections they gave to the Fiber app.
	curl -s --max-time 5 "http://$HOST:$ADMIN_PORT/metrics" | awk '
		/^authgate_fast_path_total\{outcome="served"\}/ { s = $2 }
		/^authgate_fast_path_total\{outcome="handed_over"\}/ { h = $2 }
		END { printf "authgate-warn fast path: %.0f requests answered by the loops, %.0f connections handed to the Fiber app\n", s, h }'
fi
if ((TRACING)); then
	printf 'tracing (ratio %s): authgate-trace / authgate-warn = %.2f req/s, %.2f CPU per request; authgate-trace / authgate-fiber (the spans alone) = %.2f req/s, %.2f CPU per request\n' \
		"$TRACE_RATIO" \
		"$(awk -v a="${rps[authgate-trace]}" -v b="${rps[authgate-warn]}" 'BEGIN { print a / b }')" \
		"$(awk -v a="${cpu[authgate-trace]}" -v b="${cpu[authgate-warn]}" 'BEGIN { print b ? a / b : 0 }')" \
		"$(awk -v a="${rps[authgate-trace]}" -v b="${rps[authgate-fiber]}" 'BEGIN { print a / b }')" \
		"$(awk -v a="${cpu[authgate-trace]}" -v b="${cpu[authgate-fiber]}" 'BEGIN { print b ? a / b : 0 }')"
fi
echo "(vs_* are req/s ratios; cpu_us/req is the CPU time of the server under test"
echo " alone per request: the upstream for direct, the proxy for the others; all"
echo " processes and wrk share the machine's cores. Logs and configs are in $B)"
