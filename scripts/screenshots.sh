#!/usr/bin/env bash
# Regenerates the README's screenshots from a fresh `demo` ledger with headless Chromium:
#   docs/img/replay.png     `replay --html` of the demo session, 1280 wide
#   docs/img/dashboard.png  the dashboard's overview at 1280x800
# Needs chromium (the one the browser tests use: .ci/steps/30-chromium.sh installs it).
set -euo pipefail
cd "$(dirname "$0")/.."

browser=$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)
if [ -z "$browser" ]; then
  echo "screenshots: no chromium found (apt-get install chromium)" >&2
  exit 1
fi
cargo build --quiet
bin="$PWD/target/debug/patchwork-gateway"

work=$(mktemp -d)
kept=
dash_pid=
cleanup() {
  if [ -n "$dash_pid" ]; then kill "$dash_pid" 2>/dev/null || true; fi
  rm -rf "$work"
  if [ -n "$kept" ]; then rm -rf "$kept"; fi
}
trap cleanup EXIT

# The demo drives a scripted session through the real doors and keeps its home and ledger.
# (It exits 1 when a refusal did not hold, which the demo shows on purpose.)
"$bin" demo --keep >"$work/demo.out" || true
kept=$(sed -n 's/^kept \([^ ]*\) (HOME=.*/\1/p' "$work/demo.out")
if [ -z "$kept" ] || [ ! -d "$kept/home/.patchwork" ]; then
  echo "screenshots: the demo did not keep its ledger:" >&2
  cat "$work/demo.out" >&2
  exit 1
fi
export HOME="$kept/home" PATCHWORK_HOME="$kept/home/.patchwork" CLAUDE_PROJECT_DIR="$kept/project"
# A signed checkpoint, so the overview's integrity panel shows one.
"$bin" checkpoint >/dev/null

shot() { # URL WIDTH,HEIGHT OUT
  "$browser" --headless --no-sandbox --disable-gpu --hide-scrollbars --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --user-data-dir="$work/profile" --window-size="$2" --screenshot="$3" "$1" \
    >/dev/null 2>&1
  test -s "$3"
}

"$bin" replay latest -o "$work/replay.html"
shot "file://$work/replay.html" 1280,1500 docs/img/replay.png

"$bin" dashboard --port 0 >"$work/dashboard.out" &
dash_pid=$!
url=
for _ in $(seq 100); do
  url=$(grep -m1 '^http://127.0.0.1:' "$work/dashboard.out" || true)
  [ -n "$url" ] && break
  sleep 0.1
done
if [ -z "$url" ]; then
  echo "screenshots: the dashboard printed no URL" >&2
  exit 1
fi
# The token URL signs the browser in and redirects to the overview.
shot "$url" 1280,800 docs/img/dashboard.png

echo "wrote docs/img/replay.png and docs/img/dashboard.png"
