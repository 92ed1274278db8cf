'use strict';
// node devtools_rules.js OUT_DIR: base.heapsnapshot, then more of everything, target.heapsnapshot.
//
// A heap exercising each rule of DevTools' Summary and Comparison:
// - Holder objects each owning an internal array (their elements' backing store): its size
//   moves into the Holder;
// - StackOnly, held only by a local variable of the running function (the stack roots, not
//   the global object), pointing into Shared objects the global also holds: such edges do
//   not make it their dominator;
// - two classes named Twin from two files;
// - plain objects of several shapes, {a, b}, {payload}, {x, y, z}, {"a,b"};
// - a WeakMap whose values are held by the key and the table together;
// - Maps of class instances, closures, typed arrays and strings.
const v8 = require('v8');
const path = require('path');
const TwinA = require('./twins/a.js');
const TwinB = require('./twins/b.js');

const outDir = process.argv[2];

class Holder { constructor(n) { this.items = Array.from({length: n}, (_, i) => i * 2); } }
class Shared { constructor(i) { this.i = i; } }
class StackOnly { constructor(shared) { this.shared = shared; this.own = new Array(50).fill(1); } }
class Key { constructor(i) { this.i = i; } }
class WeakValue { constructor(i) { this.i = i; } }
class Session { constructor(i) { this.user = 'user-' + i; this.started = i; } }

const keep = {holders: [], twins: [], plain: [], keys: [], sessions: new Map(), closures: [],
              typed: [], strings: [], shared: []};
globalThis.keep = keep;
globalThis.weak = new WeakMap();

function grow(round) {
  for (let i = 0; i < 40; i++) keep.holders.push(new Holder(20 + i));
  for (let i = 0; i < 30; i++) keep.twins.push(new TwinA(i), new TwinB(i));
  for (let i = 0; i < 50; i++) {
    // Heap values: a small integer is no edge in a snapshot, so it names no property.
    const text = 's' + i;
    keep.plain.push({a: text, b: [round]}, {payload: text}, {x: text, y: text, z: text},
                    {'a,b': text});
  }
  for (let i = 0; i < 25; i++) {
    const key = new Key(i);
    keep.keys.push(key);
    globalThis.weak.set(key, new WeakValue(i));
  }
  for (let i = 0; i < 60; i++) keep.sessions.set(round * 1000 + i, new Session(i));
  for (let i = 0; i < 20; i++) {
    const captured = {count: i};
    keep.closures.push(() => captured.count++);
  }
  for (let i = 0; i < 10; i++) keep.typed.push(new Float64Array(64 + i));
  for (let i = 0; i < 100; i++) keep.strings.push('string-' + round + '-' + i);
  for (let i = 0; i < 10; i++) keep.shared.push(new Shared(i));
}

function snapshotWithALocal(name) {
  // Only this frame holds the StackOnly objects.
  const onStack = keep.shared.map((shared) => new StackOnly(shared));
  v8.writeHeapSnapshot(path.join(outDir, name));
  return onStack.length;
}

grow(1);
snapshotWithALocal('base.heapsnapshot');
grow(2);
keep.holders.splice(0, 10);  // some deleted objects too
keep.plain.splice(0, 40);
snapshotWithALocal('target.heapsnapshot');
