#!/usr/bin/env bash
# The Node.js guide's websocat + jq heap snapshot script ("Using Heap Snapshot", section 4:
# "Trigger Heap Snapshot using inspector protocol"), kept as faithful as possible: it is the
# baseline people use today. Usage: heap_snapshot_guide.sh PID [PORT]  (writes ./out and
# ./out.heapsnapshot in the current directory).
#
# Only what is broken in the published version is changed, each marked "FIX":
#  1. the wait loop has no `done` (a syntax error);
#  2. its condition `[.id != 2, .result != {}] | all` is false for the reply to
#     HeapProfiler.enable ({"id":1,"result":{}}) and for an empty ./out, so the loop ends
#     after the first reply (or at once, before any reply: jq 1.6 exits 0 on empty input)
#     and the script extracts an incomplete dump: wait until the last complete line of
#     ./out is the reply to id 2 instead (`-n 'input | ...'` fails on empty input);
#  3. the inspector port is hard-wired to 9229: take it as an optional second argument
#     (default 9229), so that the benchmark can run its target on a free port;
#  4. websocat is left running in the background forever (it keeps the server->stdout
#     direction open after stdin closes): stop it at the end.
set -e

PORT="${2:-9229}"  # FIX 3

kill -USR1 "$1"
rm -f fifo out
mkfifo ./fifo
websocat -B 10000000000 "$(curl -s "http://localhost:$PORT/json" | jq -r '.[0].webSocketDebuggerUrl')" < ./fifo > ./out &
WEBSOCAT=$!  # FIX 4
exec 3>./fifo
echo '{"method": "HeapProfiler.enable", "id": 1}' > ./fifo
echo '{"method": "HeapProfiler.takeHeapSnapshot", "id": 2}' > ./fifo
while ! jq -en 'input | .id == 2' < <(tail -n 1 ./out); do  # FIX 2
  sleep 1s
  echo "Capturing Heap Snapshot..."
done  # FIX 1

echo -n "" > ./out.heapsnapshot
while read -r line; do
  f="$(echo "$line" | jq -r '.params.chunk')"
  echo -n "$f" >> out.heapsnapshot
done < <(cat out | tail -n +2 | head -n -1)

exec 3>&-
kill "$WEBSOCAT" 2>/dev/null || true  # FIX 4
wait "$WEBSOCAT" 2>/dev/null || true  # FIX 4
