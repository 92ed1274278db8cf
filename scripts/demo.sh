#!/usr/bin/env bash
# The README's first command: run the bundled leaky example app, take two heap snapshots
# of it in one inspector session (the way you would on a real process), and compare them;
# then hunt the leak: three snapshots, the leaked classes ranked by cost, what holds them.
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
echo
echo "what grew between the two snapshots (RequestContext is the leak):"
python3 -m cdp_heap diff "$out/app-1.heapsnapshot" "$out/app-2.heapsnapshot" --top 8
echo
echo "the leak hunt: what survived a whole round, who holds it, what grows (and an HTML report):"
python3 -m cdp_heap leak --pid $app --gc --interval 3 --top 2 --routes 3 --html "$out/leak.html" --timeout 120
echo
echo "the snapshots are in $out/, the report in $out/leak.html; Chrome DevTools' Memory panel loads the snapshots too"

