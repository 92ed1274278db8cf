"""Chrome DevTools' own heap snapshot worker, fetched from Chromium and run in Node.

The reference for ``cdp-heap summary`` and ``cdp-heap diff`` is DevTools itself: the
Debian Chromium serves its frontend on the remote-debugging port, so the tests download
``entrypoints/heap_snapshot_worker/heap_snapshot_worker.js`` and every module it imports
(a couple of dozen files, nothing of it is committed) into a temporary directory and drive
the worker's ``HeapSnapshotLoader`` and ``JSHeapSnapshot`` from a small Node script, the
way the Memory panel does: ``aggregatesWithFilter({})`` is the Summary,
``target.calculateSnapshotDiff(id, base.aggregatesForDiff(target.interfaceDefinitions()))``
the Comparison.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import urllib.request
from pathlib import Path

import attrs

ENTRY = "entrypoints/heap_snapshot_worker/heap_snapshot_worker.js"
_IMPORT = re.compile(r"""(?:from|import)\s*\(?\s*["'](\.{1,2}/[^"']+)["']""")

#: Node 20 lacks ``Promise.withResolvers``, which the worker uses; the worker's other globals
#: (``self``, ``MessageChannel``) are Node's own.
DRIVER = r"""
import {createReadStream} from 'node:fs';
import {pathToFileURL} from 'node:url';
globalThis.self = globalThis;
Promise.withResolvers ??= () => {
  let resolve, reject;
  const promise = new Promise((a, b) => { resolve = a; reject = b; });
  return {promise, resolve, reject};
};
console.warn = () => {}; console.time = () => {}; console.timeEnd = () => {};
const [entry, base, target] = process.argv.slice(2);
const W = await import(pathToFileURL(entry).href);

async function load(path) {
  const loader = new W.HeapSnapshotLoader.HeapSnapshotLoader({sendEvent() {}});
  for await (const chunk of createReadStream(path, {encoding: 'utf8', highWaterMark: 1 << 20})) {
    loader.write(chunk);
  }
  loader.close();
  const channel = new MessageChannel();
  new W.HeapSnapshot.SecondaryInitManager(channel.port2);
  const snapshot = await loader.buildSnapshot(channel.port1);
  channel.port1.close();
  channel.port2.close();
  return snapshot;
}

const snapshot = await load(target ?? base);
const out = {summary: {}, total: snapshot.totalSize};
for (const [key, a] of Object.entries(snapshot.aggregatesWithFilter({}))) {
  out.summary[key] = {name: a.name, count: a.count, distance: a.distance, self: a.self,
                      retained: a.maxRet};
}
// The objects of some classes (by name), as the Summary lists them under each class.
const wanted = (process.env.CDP_HEAP_CLASSES ?? '').split('\n').filter(Boolean);
out.objects = {};
for (const [key, a] of Object.entries(snapshot.aggregatesWithFilter({}))) {
  if (!wanted.includes(a.name)) continue;
  const node = snapshot.createNode(0);
  out.objects[key] = a.idxs.map((index) => {
    node.nodeIndex = index;
    return [node.id(), node.selfSize(), node.retainedSize(), node.distance()];
  });
}
// What retains some objects (by id): the Retainers panel's first level.
out.retainers = {};
for (const id of (process.env.CDP_HEAP_RETAINERS ?? '').split('\n').filter(Boolean)) {
  const index = snapshot.nodeIndexForId(Number(id));
  const provider = snapshot.createRetainingEdgesProvider(index);
  const range = provider.serializeItemsRange(0, 1 << 20);
  out.retainers[id] = range.items.map((edge) => [edge.node.id, edge.type, edge.node.distance]);
}
if (target) {
  const older = await load(base);
  const aggregates = older.aggregatesForDiff(snapshot.interfaceDefinitions());
  out.diff = {};
  for (const [key, d] of Object.entries(snapshot.calculateSnapshotDiff('base', aggregates))) {
    out.diff[key] = {name: d.name, new: d.addedCount, deleted: d.removedCount,
                     alloc: d.addedSize, freed: d.removedSize, delta: d.countDelta,
                     size_delta: d.sizeDelta};
  }
}
process.stdout.write(JSON.stringify(out));
"""


@attrs.frozen
class SummaryRow:
    name: str
    count: int
    distance: int
    self_size: int
    retained_size: int


@attrs.frozen
class DiffRow:
    name: str
    new: int
    deleted: int
    alloc_size: int
    freed_size: int
    delta: int
    size_delta: int


@attrs.frozen(order=True)
class ObjectRow:
    id: int
    self_size: int
    retained_size: int
    distance: int


@attrs.frozen
class Reference:
    """DevTools' answer for one snapshot (and its comparison with a base, if given)."""

    total_size: int
    summary: dict[str, SummaryRow]
    comparison: dict[str, DiffRow]
    #: Per class key, the objects of the classes asked for (in DevTools' order).
    objects: dict[str, list[ObjectRow]]
    #: Per object id asked for: its retainers' (id, edge type, distance), DevTools' order.
    retainers: dict[int, list[tuple[int, str, int]]]


def fetch_worker(port: int, directory: Path) -> Path:
    """Download the worker and the modules it imports; returns the entry module's path."""
    base = f"http://127.0.0.1:{port}/devtools"
    todo, seen = [ENTRY], set()
    while todo:
        relative = str(Path(todo.pop()))
        if relative in seen:
            continue
        seen.add(relative)
        with urllib.request.urlopen(f"{base}/{relative}") as response:
            text = response.read().decode()
        path = directory / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        for match in _IMPORT.finditer(text):
            todo.append(_join(relative, match.group(1)))
    (directory / "driver.mjs").write_text(DRIVER)
    return directory / ENTRY


def _join(relative: str, target: str) -> str:
    parts = relative.split("/")[:-1]
    for part in target.split("/"):
        if part == "..":
            parts.pop()
        elif part != ".":
            parts.append(part)
    return "/".join(parts)


def run_worker(
    entry: Path,
    snapshot: Path,
    base: Path | None = None,
    classes: tuple[str, ...] = (),
    retainers_of: tuple[int, ...] = (),
) -> Reference:
    """DevTools' Summary of ``snapshot`` and, with ``base``, the Comparison base → snapshot;
    the objects of the ``classes`` named, and the retainers of the objects ``retainers_of``."""
    driver = entry.parents[2] / "driver.mjs"
    argv = ["node", str(driver), str(entry)]
    argv += [str(base), str(snapshot)] if base is not None else [str(snapshot)]
    env = dict(
        os.environ,
        CDP_HEAP_CLASSES="\n".join(classes),
        CDP_HEAP_RETAINERS="\n".join(map(str, retainers_of)),
    )
    out = subprocess.run(argv, capture_output=True, check=True, timeout=300, env=env).stdout
    document = json.loads(out)
    summary = {
        key: SummaryRow(r["name"], r["count"], r["distance"], r["self"], round(r["retained"]))
        for key, r in document["summary"].items()
    }
    comparison = {
        key: DiffRow(
            r["name"], r["new"], r["deleted"], r["alloc"], r["freed"], r["delta"], r["size_delta"]
        )
        for key, r in document.get("diff", {}).items()
    }
    objects = {
        key: [ObjectRow(i, size, round(retained), d) for i, size, retained, d in rows]
        for key, rows in document["objects"].items()
    }
    retainers = {
        int(node): [(int(r), str(kind), int(d)) for r, kind, d in rows]
        for node, rows in document["retainers"].items()
    }
    return Reference(round(document["total"]), summary, comparison, objects, retainers)
