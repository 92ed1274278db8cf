"""``cdp-heap summary`` and ``diff`` against Chrome DevTools' own heap snapshot worker.

The worker is fetched from the Debian Chromium at test time (see devtools_worker.py) and
run on the same files; every class row of its Summary and every row of its Comparison
must equal ours. The snapshots come from apps built to exercise each of DevTools' rules
(apps/devtools_rules.js: owned internal arrays, objects held only from the stack, two
classes of one name, plain objects of several shapes, a WeakMap), a Chromium page with
detached DOM nodes (and zero-size natives), and Deno. One Chromium, one set of snapshots
and one worker run per snapshot pair serve the whole module.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import attrs
import numpy as np
import pytest
import trio

import cdp_heap
from cdp_heap.analysis import (
    SUMMARY_SORT_KEYS,
    HeapView,
    compare_files,
    find_leaks,
    load_comparison_graph,
    load_snapshot,
    load_view,
    retainer_tree,
)
from cdp_heap.cli import build_parser, main
from tests.analysis.devtools_worker import (
    DiffRow,
    ObjectRow,
    Reference,
    SummaryRow,
    fetch_worker,
    run_worker,
)
from tests.targets import Chromium, start_deno

APPS = Path(__file__).parent / "apps"


@attrs.frozen
class Case:
    """Two snapshots of one session and DevTools' answer for them."""

    base: Path
    target: Path
    reference: Reference


@pytest.fixture(scope="module")
def worker(chromium: Chromium, tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("node") is None:
        pytest.skip("node is not installed: it runs DevTools' worker")
    return fetch_worker(chromium.port, tmp_path_factory.mktemp("devtools"))


@pytest.fixture(scope="module")
def node_case_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The rules app's two snapshots (Node 20, one process: comparable)."""
    directory = tmp_path_factory.mktemp("rules")
    script = APPS / "devtools_rules.js"
    subprocess.run(["node", str(script), str(directory)], check=True, timeout=120)
    return directory / "base.heapsnapshot", directory / "target.heapsnapshot"


@pytest.fixture(scope="module")
def node_case(worker: Path, node_case_files: tuple[Path, Path]) -> Case:
    base, target = node_case_files
    return Case(base, target, run_worker(worker, target, base, classes=OBJECT_CLASSES))


PAGE_SETUP = """
class Widget { constructor(i) { this.i = i; this.element = document.createElement('section'); } }
globalThis.widgets = Array.from({length: 30}, (_, i) => new Widget(i));
globalThis.detached = [];
globalThis.grow = (n) => {
  for (let i = 0; i < n; i++) {
    const div = document.createElement('div');
    div.innerHTML = '<span>detached</span><p>tree</p>';
    detached.push(div);
  }
  document.body.insertAdjacentHTML('beforeend', '<ul>' + '<li>attached</li>'.repeat(n) + '</ul>');
};
globalThis.plain = Array.from({length: 100}, (_, i) => (i % 2 ? {a: i, b: i} : {payload: i}));
grow(20);
"""


@pytest.fixture(scope="module")
def page_case(chromium: Chromium, worker: Path, tmp_path_factory: pytest.TempPathFactory) -> Case:
    directory = tmp_path_factory.mktemp("page")
    base, target = directory / "base.heapsnapshot", directory / "target.heapsnapshot"

    async def take() -> None:
        with trio.fail_after(120):
            targets = await cdp_heap.list_targets("127.0.0.1", chromium.port)
            page = cdp_heap.select_target(targets, "^about:blank$")
            assert page.web_socket_debugger_url
            async with cdp_heap.open_cdp(page.web_socket_debugger_url) as conn:
                await conn.send("Runtime.evaluate", {"expression": PAGE_SETUP})
                await cdp_heap.save_snapshot(conn, base)
                await conn.send(
                    "Runtime.evaluate", {"expression": "grow(15); detached.splice(0, 5); 1"}
                )
                await cdp_heap.save_snapshot(conn, target)

    trio.run(take)
    return Case(base, target, run_worker(worker, target, base))


DENO_APP = """\
class DenoThing { constructor(public n: number) {} }
const g = globalThis as any;
g.things = new Map<number, DenoThing>();
g.grow = (n: number) => {
  for (let i = 0; i < n; i++) g.things.set(g.things.size, new DenoThing(i));
  g.plain = Array.from({ length: n }, (_, i) => ({ x: i, y: "y" + i }));
};
g.grow(500);
console.error("deno ready");
setInterval(() => {}, 1 << 30);
"""


@pytest.fixture(scope="module")
def deno_case(worker: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Case]:
    if shutil.which("deno") is None:
        pytest.skip("deno is not installed (pip install deno)")
    directory = tmp_path_factory.mktemp("deno")
    script = directory / "app.ts"
    script.write_text(DENO_APP)
    base, target = directory / "base.heapsnapshot", directory / "target.heapsnapshot"
    app = start_deno(script, b"deno ready")

    async def take() -> None:
        with trio.fail_after(120):
            async with cdp_heap.open_cdp(app.ws_url) as conn:
                await cdp_heap.save_snapshot(conn, base)
                await conn.send("Runtime.evaluate", {"expression": "grow(300); 1"})
                await cdp_heap.save_snapshot(conn, target)

    try:
        trio.run(take)
    finally:
        app.kill()
    yield Case(base, target, run_worker(worker, target, base))


CASES = ("node_case", "page_case", "deno_case")
#: Classes whose every object is compared with DevTools' (two of them share a name).
OBJECT_CLASSES = ("Holder", "Twin", "StackOnly", "{a, b}", "WeakValue")


def ours_summary(path: Path) -> dict[str, SummaryRow]:
    return {
        row.key: SummaryRow(row.name, row.count, row.distance, row.self_size, row.retained_size)
        for row in load_view(path).summary()
    }


def ours_comparison(base: Path, target: Path, *, retained: bool = True) -> dict[str, DiffRow]:
    comparison = compare_files(base, target, retained=retained)
    return {
        row.key: DiffRow(
            row.name,
            row.new,
            row.deleted,
            row.alloc_size,
            row.freed_size,
            row.delta,
            row.size_delta,
        )
        for row in comparison.classes
        if row.new or row.deleted  # DevTools lists the classes that changed
    }


@pytest.mark.chromium
@pytest.mark.parametrize("case_name", CASES)
def test_summary_equals_devtools_row_for_row(
    case_name: str, request: pytest.FixtureRequest
) -> None:
    case: Case = request.getfixturevalue(case_name)
    ours = ours_summary(case.target)
    assert len(case.reference.summary) > 20
    assert ours == case.reference.summary


@pytest.mark.chromium
@pytest.mark.parametrize("case_name", CASES)
def test_comparison_equals_devtools_row_for_row(
    case_name: str, request: pytest.FixtureRequest
) -> None:
    case: Case = request.getfixturevalue(case_name)
    ours = ours_comparison(case.base, case.target)
    assert len(case.reference.comparison) > 2
    assert ours == case.reference.comparison


@pytest.mark.chromium
@pytest.mark.parametrize("case_name", CASES)
def test_comparison_from_the_sieved_graph_equals_devtools(
    case_name: str, request: pytest.FixtureRequest
) -> None:
    """diff's table reads only the edges DevTools' rules need: the same rows, and every
    object with the same class key and shallow size as from the whole graph."""
    case: Case = request.getfixturevalue(case_name)
    assert ours_comparison(case.base, case.target, retained=False) == case.reference.comparison
    for path in (case.base, case.target):
        whole = HeapView(load_snapshot(path))
        sieved = HeapView(load_comparison_graph(path))
        assert sieved.snapshot.partial
        assert sieved.snapshot.edge_count < whole.snapshot.edge_count / 2
        assert sieved.interfaces == whole.interfaces
        mine, theirs = sieved.objects(), whole.objects()
        assert np.array_equal(mine.ids, theirs.ids)
        assert np.array_equal(mine.self_sizes, theirs.self_sizes)
        keys = np.array(mine.class_names, dtype=object)[mine.class_ids]
        assert list(keys) == list(np.array(theirs.class_names, dtype=object)[theirs.class_ids])
        with pytest.raises(ValueError, match="whole graph"):
            sieved.dominators()


@pytest.mark.chromium
def test_objects_of_a_class_equal_devtools(node_case: Case) -> None:
    view = load_view(node_case.target)
    assert set(node_case.reference.objects) == {
        key
        for key in view.class_keys
        if view.class_names[view.class_keys.index(key)] in OBJECT_CLASSES
        and key in node_case.reference.summary
    }
    for key, expected in node_case.reference.objects.items():
        ours = view.largest([view.class_keys.index(key)], top=10_000)
        got = sorted(ObjectRow(o.id, o.self_size, o.retained_size, o.distance) for o in ours)
        assert got == sorted(expected), key
        assert len(got) == node_case.reference.summary[key].count


@pytest.mark.chromium
def test_retainers_equal_devtools_retainers_panel(
    worker: Path, node_case_files: tuple[Path, Path]
) -> None:
    _, target = node_case_files
    view = load_view(target)
    picked = [view.largest(view.classes_matching(name), top=1)[0].id for name in OBJECT_CLASSES]
    reference = run_worker(worker, target, retainers_of=tuple(picked))
    for node_id in picked:
        node = view.node_of_id(node_id)
        assert node is not None
        tree = retainer_tree(view, node, depth=1, width=10_000)
        ours = [(r.node.id, r.edge_type, r.node.distance) for r in tree.retainers]
        theirs = reference.retainers[node_id]
        assert theirs, node_id
        assert sorted(ours) == sorted(theirs), node_id
        # Nearest to a global first, as DevTools sorts them.
        assert [d for _, _, d in ours] == sorted(d for _, _, d in theirs)


@pytest.mark.chromium
def test_total_size_is_devtools_total(node_case: Case) -> None:
    view = load_view(node_case.target)
    assert (
        int(view.dominators().retained_size[view.snapshot.root]) == node_case.reference.total_size
    )


@pytest.mark.chromium
def test_the_node_app_exercises_every_rule(node_case: Case) -> None:
    snapshot = load_snapshot(node_case.target)
    view = HeapView(snapshot)
    raw = HeapView(snapshot, raw=True)
    rows = node_case.reference.summary
    names = [row.name for row in rows.values()]
    # Owned internals: arrays whose size moved into their owners, so fewer are counted.
    assert view.counted.sum() < raw.counted.sum()
    assert int(view.self_size.sum()) == int(snapshot.self_size.sum())
    # Two rows for the two Twin classes, keyed by their constructors' locations.
    twins = [key for key, row in rows.items() if row.name == "Twin"]
    assert len(twins) == 2 and all(not key.startswith(",") for key in twins)
    # Plain objects by shape, the quoted property name too.
    for shape in ("{a, b}", "{payload}", "{x, y, z}", '{"a,b"}'):
        assert shape in names
    # StackOnly is held from the stack roots only: no distance from a global.
    stack_only = next(row for row in rows.values() if row.name == "StackOnly")
    assert stack_only.distance >= 100_000_000
    # The page rule changes dominators: the plain rule gives the global much less.
    page_global = view.summary()[0]
    raw_rows = {row.key: row for row in raw.summary()}
    assert page_global.name == "global"
    assert page_global.retained_size > 2 * raw_rows[page_global.key].retained_size


@pytest.mark.chromium
def test_the_page_has_detached_nodes_and_zero_size_natives(page_case: Case) -> None:
    snapshot = load_snapshot(page_case.target)
    view = HeapView(snapshot)
    native = snapshot.node_type == snapshot.node_types.index("native")
    assert np.count_nonzero(native & (snapshot.self_size == 0)) > 0  # not counted
    assert view.detached is not None and view.detached.any()
    names = {row.name for row in page_case.reference.summary.values()}
    assert {"Detached <div>", "Detached <span>", "Detached <p>"} <= names
    detached_divs = next(
        r for r in page_case.reference.comparison.values() if r.name == "Detached <div>"
    )
    assert (detached_divs.new, detached_divs.deleted) == (15, 5)


def test_raw_sizes_are_v8s_own(node_case_files: tuple[Path, Path]) -> None:
    _, target = node_case_files
    snapshot = load_snapshot(target)
    raw = HeapView(snapshot, raw=True)
    assert np.array_equal(raw.self_size, snapshot.self_size)
    rows = raw.summary()
    assert sum(row.self_size for row in rows) == int(snapshot.self_size.sum())
    assert int(raw.dominators().retained_size[snapshot.root]) == int(snapshot.self_size.sum())


def test_summary_cli_json_and_table(
    node_case_files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    _, target = node_case_files
    assert main(["summary", str(target), "--json", "--filter", "^Twin$"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert set(document) == {"file", "total_size", "raw_sizes", "classes"}
    rows = document["classes"]
    assert [row["name"] for row in rows] == ["Twin", "Twin"]
    assert all(
        set(row) == {"key", "name", "count", "distance", "self_size", "retained_size"}
        for row in rows
    )
    assert [row["count"] for row in rows] == [60, 60]
    assert main(["summary", str(target), "--sort", "count", "--top", "3"]) == 0
    out = capsys.readouterr().out.splitlines()
    header = next(line for line in out if line.startswith("Constructor"))
    assert "Distance" in header and "Shallow Size" in header and "Retained Size" in header
    counts = [int(line.split()[-6]) for line in out[out.index(header) + 1 :][:3]]
    assert counts == sorted(counts, reverse=True)


def test_summary_class_and_retainers(
    node_case_files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    _, target = node_case_files
    assert main(["summary", str(target), "--class", "Holder", "--json", "--top", "3"]) == 0
    objects = json.loads(capsys.readouterr().out)["objects"]
    assert len(objects) == 3 and all(o["name"] == "Holder" for o in objects)
    sizes = [o["retained_size"] for o in objects]
    assert sizes == sorted(sizes, reverse=True) and all(o["self_size"] > 0 for o in objects)
    biggest = objects[0]["id"]
    assert main(["summary", str(target), "--retainers", f"@{biggest}", "--depth", "3"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith(f"Holder @{biggest}")
    # Holder <- [i] in Array <- holders in Object (keep) <- keep in global.
    assert any("in Array @" in line for line in lines[1:])
    assert any(line.strip().startswith("holders in ") for line in lines)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--class", "NoSuchClass"], "no class 'NoSuchClass'"),
        (["--retainers", "@4294967291"], "no object @4294967291"),
    ],
)
def test_summary_unknown_class_or_object_is_one_line(
    node_case_files: tuple[Path, Path],
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    message: str,
) -> None:
    _, target = node_case_files
    assert main(["summary", str(target), *argv]) == 1
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "empty file"),
        ('{"snapshot": {"meta": {}}, "nodes": [1, 2', "truncated"),
        ('{"hello": "world"}', "not a V8 heap snapshot"),
    ],
)
def test_summary_of_bad_input_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, message: str
) -> None:
    path = tmp_path / "bad.heapsnapshot"
    path.write_text(content)
    assert main(["summary", str(path)]) == 1
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


def test_summary_sort_choices_are_the_librarys() -> None:
    parser = build_parser()
    for key in SUMMARY_SORT_KEYS:
        assert parser.parse_args(["summary", "f", "--sort", key]).sort == key
    with pytest.raises(SystemExit):
        parser.parse_args(["summary", "f", "--sort", "name"])


def test_diff_raw_sizes_are_v8s_sizes_of_the_new_and_deleted(
    node_case_files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    base, target = node_case_files
    assert main(["diff", str(base), str(target), "--json", "--raw-sizes"]) == 0
    raw_rows = json.loads(capsys.readouterr().out)["classes"]
    assert main(["diff", str(base), str(target), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["classes"]
    # Independently: V8's self sizes of the objects whose id is only in one snapshot.
    old, new = load_snapshot(base), load_snapshot(target)
    sized_old = old.self_size > 0
    sized_new = new.self_size > 0
    added = sized_new & ~np.isin(new.node_id, old.node_id)
    removed = sized_old & ~np.isin(old.node_id, new.node_id)
    assert sum(r["alloc_size"] for r in raw_rows) == int(new.self_size[added].sum())
    assert sum(r["freed_size"] for r in raw_rows) == int(old.self_size[removed].sum())
    # DevTools' sizes move owned arrays into their owners: other rows, other sizes.
    assert {r["key"]: r["alloc_size"] for r in rows} != {
        r["key"]: r["alloc_size"] for r in raw_rows
    }
    assert all(r["retained_size"] >= 0 for r in rows)
    assert max(r["retained_size"] for r in rows) > 0


@pytest.fixture(scope="module")
def leak_files(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Three snapshots of apps/leak_devtools.js (one process, oldest first)."""
    directory = tmp_path_factory.mktemp("leak")
    subprocess.run(
        ["node", str(APPS / "leak_devtools.js"), str(directory)], check=True, timeout=120
    )
    return [directory / f"s{i}.heapsnapshot" for i in (1, 2, 3)]


#: The app's leaked classes (every object of them in the last snapshot is leaked), and how
#: many of each it makes.
LEAKED = {"Leaked": 300, "{payload, extra}": 200, "Twin": 40}


@pytest.mark.chromium
def test_leak_classes_and_retained_sizes_equal_devtools(
    worker: Path, leak_files: list[Path]
) -> None:
    """leak's class keys, counts, shallow and retained sizes are DevTools': for a class all
    of whose objects leaked, the group is DevTools' Summary row of the last snapshot, and
    its count DevTools' # New from the first to the second."""
    s1, s2, s3 = leak_files
    last = run_worker(worker, s3)
    grown = run_worker(worker, s2, s1)
    report = find_leaks(leak_files, top=len(LEAKED) + 20)
    groups = {group.key: group for group in report.groups}
    for name, count in LEAKED.items():
        keys = [key for key, row in last.summary.items() if row.name == name]
        assert len(keys) == (2 if name == "Twin" else 1)
        for key in keys:
            row, group = last.summary[key], groups[key]
            assert group.name == name and group.counts == (0, group.count, group.count)
            assert (group.count, group.self_size, group.retained_size) == (
                row.count,
                row.self_size,
                row.retained_size,
            )
            # V8 keeps a literal's boilerplate object: one {payload, extra} more.
            assert group.count == grown.comparison[key].new >= count
    # Every leaked class is one of DevTools' (its key and name), and Leaked's owned arrays
    # are in its self size: DevTools' rule, not V8's.
    assert all(last.summary[g.key].name == g.name for g in report.groups)
    assert "(array)" not in {g.name for g in report.groups}
    leaked = next(g for g in report.groups if g.name == "Leaked")
    assert [route.count for route in leaked.routes] == [300]
    assert {h.name: h.count for h in leaked.holds} == {"(string)": 300}


def test_leak_raw_sizes_are_v8s_own(
    leak_files: list[Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """--raw-sizes: the same classes (DevTools' keys), V8's self sizes and the plain
    dominator rule: each group is the --raw-sizes Summary row of its class."""
    devtools = {g.key: g for g in find_leaks(leak_files).groups}
    raw = {g.key: g for g in find_leaks(leak_files, raw=True).groups}
    summary = {row.key: row for row in load_view(leak_files[-1], raw=True).summary()}
    leaked = next(key for key, g in raw.items() if g.name == "Leaked")
    assert (raw[leaked].count, raw[leaked].self_size, raw[leaked].retained_size) == (
        summary[leaked].count,
        summary[leaked].self_size,
        summary[leaked].retained_size,
    )
    assert raw[leaked].self_size < devtools[leaked].self_size  # the arrays are not moved
    # DevTools' WeakMap rule: a key alone retains its value (the table's half does not),
    # so the 100 WeakValues count in Leaked's retained size; with the plain rule they don't.
    weak_values = next(g for g in devtools.values() if g.name == "WeakValue")
    with_rule, without = devtools[leaked].retained_size, raw[leaked].retained_size
    assert with_rule is not None and without is not None
    assert with_rule - without == weak_values.self_size
    # The CLI: --raw-sizes, and --devtools (the old opt-in) still accepted, ignored.
    argv = ["leak", "--files", *map(str, leak_files), "--json"]
    for extra, expected in (([], devtools), (["--raw-sizes"], raw), (["--devtools"], devtools)):
        assert main(argv + extra) == 0
        document = json.loads(capsys.readouterr().out)
        got = {g["key"]: (g["count"], g["self_size"]) for g in document["groups"]}
        assert got[leaked] == (expected[leaked].count, expected[leaked].self_size)
    assert "--devtools" not in build_parser().format_help()


def test_leak_of_earlier_snapshots_keys_equal_devtools_with_the_last_interfaces(
    leak_files: list[Path],
) -> None:
    """The earlier snapshots are read before the last one's interfaces are known (plain
    objects by shape, named later): the keys equal reading them with those interfaces."""
    from cdp_heap.analysis._view import resolve_shapes  # the step under test

    interfaces = load_view(leak_files[-1]).interfaces
    for path in leak_files[:-1]:
        deferred = HeapView(load_comparison_graph(path), defer_interfaces=True)
        mine = resolve_shapes(deferred.objects(), deferred.shapes, interfaces)
        theirs = HeapView(load_snapshot(path), interfaces=interfaces).objects()
        assert np.array_equal(mine.ids, theirs.ids)
        keys = np.array(mine.class_names, dtype=object)[mine.class_ids]
        assert list(keys) == list(np.array(theirs.class_names, dtype=object)[theirs.class_ids])
        shown = np.array(mine.display_names, dtype=object)[mine.class_ids]
        assert "{payload, extra}" in set(shown) or path == leak_files[0]
