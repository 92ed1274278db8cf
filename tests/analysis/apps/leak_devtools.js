'use strict';
// node leak_devtools.js OUT_DIR: s1, s2, s3.heapsnapshot of one process, for a leak hunt
// whose classes and sizes are compared with DevTools' own.
//
// Between s1 and s2 the app leaks, and keeps for good:
// - 300 Leaked objects, each owning an internal array (its out-of-object property store, whose
//   size DevTools moves into the Leaked object) and a string;
// - 200 plain objects of one shape, {payload, extra} (DevTools names them so);
// - 40 Twin objects of each of two classes called Twin, from two files (two class keys).
// Churn objects are replaced every round (never in the leak set), and a WeakMap holds a
// value per leaked key that only the key and the table keep.
const fs = require('fs');
const v8 = require('v8');
const path = require('path');
const TwinA = require('./twins/a.js');
const TwinB = require('./twins/b.js');

const outDir = process.argv[2];
fs.mkdirSync(outDir, {recursive: true});

class Leaked {
  constructor(i) {
    this.label = 'leaked-' + i;
    // Added one by one, past the object's in-object slots: an out-of-object property
    // store, an internal array that only this object holds.
    for (let k = 0; k < 12 + (i % 5); k++) this['p' + k] = [k];
  }
}
class Churn { constructor(i) { this.i = i; this.data = new Array(20).fill(i); } }
class WeakValue { constructor(i) { this.i = i; } }

const keep = {leaked: [], plain: [], twins: []};
globalThis.keep = keep;
globalThis.weak = new WeakMap();
let churn = [];
globalThis.churn = () => churn;

function round(r) {
  churn = Array.from({length: 200}, (_, i) => new Churn(r * 1000 + i));
  if (r !== 1) return;
  for (let i = 0; i < 300; i++) {
    const leaked = new Leaked(i);
    keep.leaked.push(leaked);
    if (i % 3 === 0) globalThis.weak.set(leaked, new WeakValue(i));
  }
  for (let i = 0; i < 200; i++) keep.plain.push({payload: 'p' + i, extra: [i]});
  for (let i = 0; i < 40; i++) keep.twins.push(new TwinA(i), new TwinB(i));
}

for (let r = 0; r < 3; r++) {
  round(r);
  v8.writeHeapSnapshot(path.join(outDir, `s${r + 1}.heapsnapshot`));
}
