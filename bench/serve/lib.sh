# Shared by the serve benchmarks (run.sh, auth.sh, catalogue-diff.sh): tools, clean-up, and reading
# wrk's output. Source it after setting WORK; it sets PIDS and an EXIT trap.

# Installs the named tools from Debian when missing (nginx lives in /usr/sbin).
ensure_tools() {
    local missing=() t
    for t in "$@"; do command -v "$t" >/dev/null 2>&1 || [ -x "/usr/sbin/$t" ] || missing+=("$t"); done
    [ ${#missing[@]} = 0 ] && return 0
    echo "installing ${missing[*]} (apt)" >&2
    apt-get install -y "${missing[@]}" >/dev/null 2>&1 || { apt-get update >/dev/null && apt-get install -y "${missing[@]}" >/dev/null; }
}

# Servers started by the benchmark (their PIDs) and nginx (its pid file) are stopped on exit.
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    [ -f "$WORK/nginx/nginx.pid" ] && kill "$(cat "$WORK/nginx/nginx.pid")" 2>/dev/null || true
}
trap cleanup EXIT

# wrk_summary NAME: keeps wrk's output (stdin) as $WORK/wrk-NAME.txt and prints "req/s p50 p99 errors".
wrk_summary() {
    local out rps p50 p99 errs
    out=$(cat)
    echo "$out" > "$WORK/wrk-$1.txt"
    rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
    p50=$(echo "$out" | awk '$1 == "50%" {print $2}')
    p99=$(echo "$out" | awk '$1 == "99%" {print $2}')
    errs=$(echo "$out" | awk '/Non-2xx|Socket errors/ {printf "%s ", $0}')
    echo "$rps $p50 $p99 ${errs:-}"
}

median() { python3 -c "import sys, statistics; print(statistics.median(float(x) for x in sys.argv[1:]))" "$@"; }

# A wrk latency (850.00us, 1.20ms, 2.01s) in milliseconds.
ms() { python3 -c "
import sys
v = sys.argv[1]
for unit, f in (('us', 0.001), ('ms', 1.0), ('s', 1000.0)):
    if v.endswith(unit) and v[:-len(unit)].replace('.', '', 1).isdigit(): print(float(v[:-len(unit)]) * f); break
" "$1"; }
