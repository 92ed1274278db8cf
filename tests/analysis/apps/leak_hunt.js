'use strict';
// Heap snapshots for the leak-hunting tests: every number the tests assert is made here.
//
//   node leak_hunt.js routes   OUT_DIR   s1..s3; between 1 and 2 the class Leaky is leaked three
//                                        ways: 300 into the global array leakyArray, 200 into an
//                                        array only a closure's context holds, 100 into the
//                                        Map leakyMap; between 2 and 3 as many again
//   node leak_hunt.js growth   OUT_DIR   s1..s4; after each snapshot the Map sessions gains 100
//                                        entries, the array queue 50 elements, the object
//                                        registry 40 properties; the Map churn has 100 entries
//                                        throughout (100 deleted and 100 added every phase)
//   node leak_hunt.js ties     OUT_DIR   s1..s3; 500 AaSmall (no payload) and 500 ZzBig (each
//                                        holding a 1000-element array) leaked between 1 and 2
//   node leak_hunt.js strings  OUT_DIR   s1..s3; 777 copies of one 60-character string (each its
//                                        own heap string) kept between 1 and 2, made from a
//                                        template that V8 flattens into one more copy
//   node leak_hunt.js held     OUT_DIR   s1..s3; 400 Holder leaked between 1 and 2, each keeping a
//                                        string of its own and a heap number
//   node leak_hunt.js twins    OUT_DIR   s1..s3; 30 objects of each of the two classes named Twin
//                                        (twins/a.js, twins/b.js) leaked between 1 and 2
//   node leak_hunt.js sessions OUT_DIR   s1..s3 like routes, but the heap profiler's id map is
//                                        reset between 2 and 3 (two sessions)
//
// v8.writeHeapSnapshot() in one process keeps one id map, like one inspector session.
const v8 = require('v8');
const path = require('path');
const inspector = require('inspector');

const [mode, outDir] = process.argv.slice(2);
require('fs').mkdirSync(outDir, { recursive: true });  // as the docs run it: OUT_DIR may be new

class Leaky { constructor(i) { this.i = i; } }
class AaSmall { constructor(i) { this.i = i; } }
class Holder { constructor(i) { this.label = `label-${i}`; this.when = i + 0.5; } }
class ZzBig { constructor(i) { this.payload = new Array(1000).fill(i); } }

function snap(n) {
  v8.writeHeapSnapshot(path.join(outDir, `s${n}.heapsnapshot`));
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

// The three holders of the routes app.
globalThis.leakyArray = [];
globalThis.leakyMap = new Map();
const holdInClosure = (() => {
  const hidden = [];
  return (item) => hidden.push(item);
})();
globalThis.holdInClosure = holdInClosure;
let next = 0;
function leakThreeWays() {
  for (let i = 0; i < 300; i++) globalThis.leakyArray.push(new Leaky(next++));
  for (let i = 0; i < 200; i++) holdInClosure(new Leaky(next++));
  for (let i = 0; i < 100; i++) { const item = new Leaky(next++); globalThis.leakyMap.set(item, item.i); }
}

async function main() {
  if (mode === 'routes' || mode === 'sessions') {
    snap(1);
    leakThreeWays();
    snap(2);
    if (mode === 'sessions') await resetIds();
    leakThreeWays();
    snap(3);
  } else if (mode === 'growth') {
    globalThis.sessions = new Map();
    globalThis.queue = [];
    globalThis.registry = {};
    globalThis.churn = new Map();
    let key = 0;
    for (let i = 0; i < 100; i++) globalThis.churn.set(`c${key++}`, { v: i });
    for (let phase = 1; phase <= 4; phase++) {
      snap(phase);
      for (let i = 0; i < 100; i++) globalThis.sessions.set(`s${phase}-${i}`, { phase, i });
      for (let i = 0; i < 50; i++) globalThis.queue.push({ phase, i });
      for (let i = 0; i < 40; i++) globalThis.registry[`r${phase}-${i}`] = { phase, i };
      for (const k of [...globalThis.churn.keys()]) globalThis.churn.delete(k);
      for (let i = 0; i < 100; i++) globalThis.churn.set(`c${key++}`, { v: i });
    }
  } else if (mode === 'ties') {
    globalThis.small = [];
    globalThis.big = [];
    snap(1);
    for (let i = 0; i < 500; i++) globalThis.small.push(new AaSmall(i));
    for (let i = 0; i < 500; i++) globalThis.big.push(new ZzBig(i));
    snap(2);
    snap(3);
  } else if (mode === 'held') {
    globalThis.holders = [];
    snap(1);
    for (let i = 0; i < 400; i++) globalThis.holders.push(new Holder(i));
    snap(2);
    snap(3);
  } else if (mode === 'twins') {
    const TwinA = require('./twins/a.js');
    const TwinB = require('./twins/b.js');
    globalThis.twins = [];
    snap(1);
    for (let i = 0; i < 30; i++) globalThis.twins.push(new TwinA(i), new TwinB(i));
    snap(2);
    snap(3);
  } else if (mode === 'strings') {
    globalThis.copies = [];
    snap(1);
    const text = 'duplicated-' + 'x'.repeat(49);
    for (let i = 0; i < 777; i++) globalThis.copies.push(Buffer.from(text).toString());
    snap(2);
    snap(3);
  } else {
    throw new Error('unknown mode ' + mode);
  }
}

main();
