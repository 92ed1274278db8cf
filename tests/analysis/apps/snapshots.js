'use strict';
// Writes heap snapshots whose differences are known by construction.
//
//   node snapshots.js pair   OUT_DIR N M   two snapshots; in between: N GroundTruthLeak allocated
//                                          (kept), M GroundTruthFreed released
//   node snapshots.js reset  OUT_DIR N M   same, but the heap profiler's id map is reset between
//                                          the snapshots (an inspector session enables and
//                                          disables HeapProfiler, as a closing DevTools does)
//   node snapshots.js triple OUT_DIR N M   three snapshots; between 1 and 2: N LeakyThing kept
//                                          in leakyCache and M TransientThing; between 2 and 3:
//                                          the TransientThings released, N more LeakyThings
//
// v8.writeHeapSnapshot() in one process keeps one id map, so the snapshots are comparable.
const v8 = require('v8');
const path = require('path');
const inspector = require('inspector');

const [mode, outDir, nText, mText] = process.argv.slice(2);
// Like the examples in docs/analysis.md, OUT_DIR need not exist yet.
require('fs').mkdirSync(outDir, { recursive: true });
const N = Number(nText);
const M = Number(mText);

class GroundTruthLeak { constructor(i) { this.i = i; } }
class GroundTruthFreed { constructor(i) { this.i = i; } }
class LeakyThing { constructor(i) { this.i = i; } }
class TransientThing { constructor(i) { this.i = i; } }

function snap(name) {
  v8.writeHeapSnapshot(path.join(outDir, name + '.heapsnapshot'));
}

function resetIds() {
  return new Promise((resolve) => {
    const session = new inspector.Session();
    session.connect();
    session.post('HeapProfiler.enable', () => {
      session.post('HeapProfiler.disable', () => {
        session.disconnect();
        resolve();
      });
    });
  });
}

async function main() {
  if (mode === 'pair' || mode === 'reset') {
    globalThis.freedStore = [];
    for (let i = 0; i < M; i++) globalThis.freedStore.push(new GroundTruthFreed(i));
    globalThis.leakStore = [];
    snap('base');
    if (mode === 'reset') await resetIds();
    for (let i = 0; i < N; i++) globalThis.leakStore.push(new GroundTruthLeak(i));
    globalThis.freedStore = null;
    snap('target');
  } else if (mode === 'triple') {
    globalThis.leakyCache = new Map();
    globalThis.transient = [];
    snap('s1');
    for (let i = 0; i < N; i++) globalThis.leakyCache.set('k' + i, new LeakyThing(i));
    for (let i = 0; i < M; i++) globalThis.transient.push(new TransientThing(i));
    snap('s2');
    globalThis.transient = null;
    for (let i = N; i < 2 * N; i++) globalThis.leakyCache.set('k' + i, new LeakyThing(i));
    snap('s3');
  } else {
    throw new Error('unknown mode ' + mode);
  }
}

main();
