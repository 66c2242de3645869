# Shared by the S3 cloud benchmarks (s3.sh, serve-cold.sh, serve-download.sh): moto with signature
# checks behind the fault proxy with latency added, and an rclone `s3:` remote. Source it, then call
# `s3_bench_start NAME LATENCY_MS`: it sets WORK (removed on exit), MOTO (moto's endpoint), PROXY (the
# proxy's), STATS (the proxy's request and byte counts) and the AWS credentials, and provides `start`,
# `field`, `rclone_env`, `serve_node` (a fresh serve node reading through the proxy) and
# `measure_nodes` (the before/after binaries measured on fresh nodes).

s3_bench_start() {
  command -v rclone >/dev/null || { apt-get update -qq; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq rclone >/dev/null; }
  python3 -c "import moto, boto3" 2>/dev/null || python3 -m pip install -q 'moto[server]' boto3
  WORK=$(mktemp -d "/tmp/trove-$1.XXXXXX")
  PIDS=()
  trap cleanup EXIT
  start moto python3 "$ROOT/Tests/s3server/moto_launcher.py" --bucket bench
  start proxy python3 "$ROOT/Tests/s3server/fault_proxy.py" --upstream "$(field moto endpoint)" --fail-rate 0 --latency-ms "$2"
  MOTO=$(field moto endpoint)
  PROXY=$(field proxy endpoint)
  STATS="$PROXY/__proxy/stats"
  export AWS_ACCESS_KEY_ID=$(field moto access_key_id) AWS_SECRET_ACCESS_KEY=$(field moto secret_access_key) AWS_REGION=us-east-1
  export HOME=$WORK
  # Plain http on loopback: a CA bundle from the environment only breaks rclone's client set-up.
  unset AWS_CA_BUNDLE
}

cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$WORK"; }

start() {  # start NAME CMD...: a server that prints one JSON line when ready and runs until stdin closes
  local name=$1; shift
  mkfifo "$WORK/$name.in"
  "$@" < "$WORK/$name.in" > "$WORK/$name.json" 2> "$WORK/$name.log" &
  PIDS+=($!)
  eval "exec {fd}> \"$WORK/$name.in\""
  until [ -s "$WORK/$name.json" ]; do kill -0 "${PIDS[-1]}" || { cat "$WORK/$name.log"; exit 1; }; sleep 0.1; done
}

field() { python3 -c "import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])" "$WORK/$1.json" "$2"; }

rclone_env() {  # rclone_env ENDPOINT: the s3: remote at ENDPOINT
  export RCLONE_CONFIG_S3_TYPE=s3 RCLONE_CONFIG_S3_PROVIDER=Other RCLONE_CONFIG_S3_ENDPOINT=$1 \
         RCLONE_CONFIG_S3_ACCESS_KEY_ID=$AWS_ACCESS_KEY_ID RCLONE_CONFIG_S3_SECRET_ACCESS_KEY=$AWS_SECRET_ACCESS_KEY \
         RCLONE_CONFIG_S3_REGION=us-east-1 RCLONE_CONFIG_S3_FORCE_PATH_STYLE=true
}

serve_node() {  # serve_node LABEL BINARY: a fresh `trove serve` (empty cache) reading the store through
  # the proxy; sets NODE_PORT and NODE_PID (stop it with `kill $NODE_PID`)
  NODE_PORT=$(python3 -c "import socket; s=socket.socket(); s.bind(('127.0.0.1',0)); print(s.getsockname()[1])")
  TROVE_STORE="s3://bench/store?endpoint=$PROXY" TROVE_CACHE_DIR=$WORK/cache-$1 \
    "$2" serve --listen "127.0.0.1:$NODE_PORT" --no-access-log > "$WORK/serve-$1.log" 2>&1 &
  NODE_PID=$!; PIDS+=($NODE_PID)
  until curl -sf "http://127.0.0.1:$NODE_PORT/healthz" > /dev/null; do
    kill -0 $NODE_PID || { cat "$WORK/serve-$1.log"; exit 1; }; sleep 0.1
  done
}

measure_nodes() {  # measure_nodes FN: TROVE_BEFORE (when set), then TROVE, each on a fresh serve node;
  # `FN BASE_URL` (the node's http://127.0.0.1:PORT) prints the result, kept in RES[before] and
  # RES[after]; LABELS lists the labels measured.
  declare -gA RES
  LABELS=()
  local label bin
  for label in before after; do
    if [ "$label" = before ]; then bin=${TROVE_BEFORE:-}; else bin=$TROVE; fi
    [ -n "$bin" ] || continue
    serve_node "$label" "$bin"
    RES[$label]=$("$1" "http://127.0.0.1:$NODE_PORT")
    kill "$NODE_PID"; wait "$NODE_PID" 2>/dev/null || true
    LABELS+=("$label")
  done
}
