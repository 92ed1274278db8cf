#!/usr/bin/env bash
# The README's first command: run the bundled leaky example app, then take two heap
# snapshots of it in one inspector session, the way you would on a real process.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-demo-output}
mkdir -p "$out"

ready=$(mktemp)
node scripts/leaky_app.js --leak-per-second 200 2>"$ready" &
app=$!
trap 'kill $app 2>/dev/null || true; rm -f "$ready"' EXIT
until grep -q ready "$ready"; do
  kill -0 $app 2>/dev/null || { cat "$ready" >&2; exit 1; }
  sleep 0.1
done

echo "example app running as PID $app; activating its inspector and taking 2 snapshots 5 s apart"
python3 -m cdp_heap snapshot --pid $app --gc --count 2 --interval 5 -o "$out/app.heapsnapshot" --timeout 120
echo "done: open $out/app-1.heapsnapshot and $out/app-2.heapsnapshot in Chrome DevTools' Memory panel"
