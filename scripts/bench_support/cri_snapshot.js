// Heap snapshot with chrome-remote-interface (npm), streamed chunk by chunk to a file.
//
//   NODE_PATH=~/.cache/cdp-heap-bench/node_modules node cri_snapshot.js WS_URL OUTPUT
//
// This is the straightforward way a Node.js user would write it: subscribe to
// HeapProfiler.addHeapSnapshotChunk, write each chunk to a write stream (respecting its
// backpressure is not possible from an event handler, so Node buffers), send
// takeHeapSnapshot, wait for the stream to finish. Prints one JSON line on stdout:
// {"bytes": N, "chunks": N, "seconds": S, "maxRssKiB": N}.
'use strict';

const fs = require('fs');
const CDP = require('chrome-remote-interface');

async function main() {
  const [url, output] = process.argv.slice(2);
  if (!url || !output) {
    console.error('usage: cri_snapshot.js WS_URL OUTPUT');
    process.exit(2);
  }
  const started = process.hrtime.bigint();
  const client = await CDP({ target: url, local: true });
  const out = fs.createWriteStream(output);
  let bytes = 0;
  let chunks = 0;
  try {
    client.HeapProfiler.addHeapSnapshotChunk(({ chunk }) => {
      bytes += chunk.length;
      chunks += 1;
      out.write(chunk);
    });
    await client.HeapProfiler.enable();
    await client.HeapProfiler.takeHeapSnapshot({ reportProgress: false });
  } finally {
    await new Promise((resolve, reject) => out.end((err) => (err ? reject(err) : resolve())));
    await client.close();
  }
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const maxRssKiB = process.resourceUsage().maxRSS;
  console.log(JSON.stringify({ bytes, chunks, seconds, maxRssKiB }));
}

main().catch((err) => {
  console.error(`cri_snapshot: ${err.stack || err}`);
  process.exit(1);
});
