#!/usr/bin/env bash
# MCP conformance through the gateway: the official suite against the reference server directly,
# then through `wrap` (stdio upstream) and `wrap --url` (HTTP upstream), both served over
# Streamable HTTP. Fails when a scenario's status differs from the direct run.
set -euo pipefail
cd "$(dirname "$0")/../.."
run=${CONFORMANCE_RUN:-../shared/conformance/run}
[ -x "$run" ] || [ ! -x ../../shared/conformance/run ] || run=../../shared/conformance/run
if [ ! -x "$run" ]; then
  echo "shared conformance harness not found at $run" >&2
  exit 1
fi
bin=target/release/patchwork-gateway
[ -x "$bin" ] || cargo build --release
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
export PATCHWORK_HOME="$out/home"
# The gateway's HTTP door wants a bearer token on every request; the conformance runner cannot
# send headers, so a preload adds it to the runner's requests to the proxy (and only those).
PATCHWORK_HTTP_TOKEN=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
export PATCHWORK_HTTP_TOKEN
export NODE_OPTIONS="--import=$PWD/.ci/lib/bearer-preload.mjs${NODE_OPTIONS:+ $NODE_OPTIONS}"
"$run" direct "$out/direct.txt" >"$out/direct.log" 2>&1 || true
"$run" proxy "$bin --policy strict wrap --http 127.0.0.1:\$PROXY_PORT -- \$STDIO_SERVER_CMD" "$out/stdio.txt" >"$out/stdio.log" 2>&1 || true
"$run" proxy "$bin --policy strict wrap --http 127.0.0.1:\$PROXY_PORT --url \$UPSTREAM_URL" "$out/url.txt" >"$out/url.log" 2>&1 || true
for t in direct stdio url; do grep '^# summary' "$out/$t.txt" | sed "s/^/$t: /" || true; done
status=0
echo "-- direct vs wrap (stdio upstream)"
"$run" compare "$out/direct.txt" "$out/stdio.txt" || status=1
echo "-- direct vs wrap --url (HTTP upstream)"
"$run" compare "$out/direct.txt" "$out/url.txt" || status=1
if [ "$status" != 0 ]; then
  for t in direct stdio url; do echo "--- $t"; cat "$out/$t.txt"; tail -n 20 "$out/$t.log"; done
fi
exit "$status"
