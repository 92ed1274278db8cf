#!/usr/bin/env bash
# Drop-in replacement for the websocat + jq script in the Node.js guide "Using Heap Snapshot":
# same interface (a PID in, ./out.heapsnapshot out), built on `cdp-heap snapshot`.
#
#   scripts/take-heap-snapshot.sh PID
#
# Like the original it activates the inspector with SIGUSR1 (port 9229, or the process's
# --inspect-port). Unlike it, it streams the snapshot straight to disk (no protocol dump),
# waits for the real end of the snapshot, fails with a clear message and exit 1, and never
# leaves a partial out.heapsnapshot behind.
set -euo pipefail

if [ $# -ne 1 ]; then
  echo "usage: $0 PID" >&2
  exit 2
fi

if command -v cdp-heap >/dev/null 2>&1; then
  exec cdp-heap snapshot --pid "$1" -o out.heapsnapshot
fi
exec python3 -m cdp_heap snapshot --pid "$1" -o out.heapsnapshot
