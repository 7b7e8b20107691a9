#!/usr/bin/env bash
# Installs the pinned MCP peers the MCP-door tests drive (tests/interop/package-lock.json):
# @modelcontextprotocol/sdk, server-filesystem, server-everything. Idempotent: `npm ci` runs
# only when node_modules is missing or older than the lockfile.
set -euo pipefail
cd "$(dirname "$0")/../../tests/interop"
command -v node >/dev/null || { echo "node (20+) is required for the MCP interop tests" >&2; exit 1; }
stamp=node_modules/.package-lock.json
if [ -f "$stamp" ] && [ "$stamp" -nt package-lock.json ]; then
  echo "mcp interop packages: up to date"
else
  npm ci --no-audit --no-fund --loglevel=error
  touch "$stamp"
fi
