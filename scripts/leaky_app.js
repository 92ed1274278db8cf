// An example service with a memory leak, for trying cdp-heap (and for its tests).
//
//   node --inspect scripts/leaky_app.js [--leak-per-second N] [--heap-mb MB]
//
// Every "request" creates a RequestContext; a forgotten cache keeps every one of them
// alive, so RequestContext instances grow forever. --heap-mb pre-allocates long-lived
// ballast so that snapshots have a realistic size. For tests, globalThis.leak(n) leaks
// exactly n contexts at once and globalThis.release(n) frees n of them.
'use strict';

const args = process.argv.slice(2);
function option(name, fallback) {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : fallback;
}
const leakPerSecond = option('--leak-per-second', 50);
const heapMb = option('--heap-mb', 0);

class RequestContext {
  constructor(id) {
    this.id = id;
    this.startedAt = Date.now();
    this.headers = { 'user-agent': 'example', 'x-request-id': `req-${id}` };
  }
}

class Ballast {
  constructor(i) {
    this.i = i;
    this.payload = 'x'.repeat(64) + i;
  }
}

const cache = new Map(); // the leak: entries are added and never removed
let nextId = 0;
globalThis.leak = (n) => {
  for (let i = 0; i < n; i++) {
    const ctx = new RequestContext(nextId++);
    cache.set(ctx.id, ctx);
  }
  return cache.size;
};
globalThis.release = (n) => {
  let freed = 0;
  for (const key of cache.keys()) {
    if (freed === n) break;
    cache.delete(key);
    freed++;
  }
  return cache.size;
};

// ~150 bytes per Ballast object (object + string); build roughly heapMb megabytes.
globalThis.ballast = [];
for (let i = 0; i < heapMb * 7000; i++) globalThis.ballast.push(new Ballast(i));

if (leakPerSecond > 0) {
  setInterval(() => globalThis.leak(Math.max(1, Math.round(leakPerSecond / 10))), 100);
} else {
  setInterval(() => {}, 1 << 30);
}
console.log(`leaky_app pid ${process.pid} ready`);
