"""The in-process path: a local Node writes its own snapshot (``v8.writeHeapSnapshot``), and
cdp-heap checks, owns and renames it. Real Node processes: as this user, as ``nobody``
(``setpriv``), in another mount namespace (``unshare -m``), behind the proxy."""

from __future__ import annotations

import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trio

import cdp_heap
from tests.failures.helpers import (
    default_signals,
    run_cli,
    start_cli,
    wait_until,
)
from tests.proxy.helpers import proxy_in_front
from tests.targets import LEAKY_APP, Target, start_inspected, start_leaky_app

LEAKY = [str(LEAKY_APP), "--leak-per-second", "0"]


@pytest.fixture(scope="module")
def app() -> Iterator[Target]:
    target = start_leaky_app()
    yield target
    target.kill()


@pytest.fixture(scope="module")
def big_app() -> Iterator[Target]:
    """A ~70 MB snapshot: seconds to write, so there is time to act in the middle."""
    target = start_leaky_app("--heap-mb", "20")
    yield target
    target.kill()


def started(prefix: list[str], *args: str) -> Target:
    """``PREFIX node --inspect=127.0.0.1:0 leaky_app.js``, e.g. under setpriv or unshare."""
    return start_inspected(
        [*prefix, "node", "--inspect=127.0.0.1:0", *LEAKY, *args], ready=b" ready"
    )


def snapshot_json(*args: str) -> dict[str, Any]:
    """``cdp-heap snapshot ARGS --json``: its one line (it must succeed)."""
    result = run_cli("snapshot", *args, "--json")
    assert result.returncode == 0, result.stderr
    line: dict[str, Any] = json.loads(result.stdout)
    return line


def staged(directory: Path) -> list[Path]:
    """What the target is writing: files in the private ``.NAME.*.partial`` directories."""
    return [f for d in directory.glob(".*.partial") for f in d.glob("*")]


def test_auto_picks_in_process_for_a_local_node(app: Target, tmp_path: Path) -> None:
    out = tmp_path / "a.heapsnapshot"
    line = snapshot_json("--url", app.ws_url, "-o", str(out))
    assert line["via"] == "in-process" and line["path"] == str(out)
    assert line["reason"] == f"process {app.pid} is local and may write {tmp_path}"
    snapshot = json.loads(out.read_text())
    assert snapshot["snapshot"]["node_count"] > 0 and line["size"] == out.stat().st_size
    st = out.stat()
    assert stat.S_IMODE(st.st_mode) == 0o600 and st.st_uid == os.geteuid()
    assert sorted(p.name for p in tmp_path.iterdir()) == [out.name]  # no staging left


def test_via_stream_and_relative_paths(app: Target, tmp_path: Path) -> None:
    result = run_cli("snapshot", "--url", app.ws_url, "-o", "r.heapsnapshot", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "written by the target" in result.stderr  # the target's cwd is not ours
    line = snapshot_json("--url", app.ws_url, "-o", str(tmp_path / "s"), "--via", "stream")
    assert line["via"] == "stream" and line["reason"] == "--via stream"
    assert stat.S_IMODE((tmp_path / "s").stat().st_mode) == 0o600


def diff(base: Path, target: Path) -> dict[str, dict[str, int]]:
    result = run_cli("diff", str(base), str(target), "--json")
    assert result.returncode == 0, result.stderr
    return {row["name"]: row for row in json.loads(result.stdout)["classes"]}


async def test_in_process_and_streamed_snapshots_of_one_session_compare(
    app: Target, tmp_path: Path
) -> None:
    paths = [tmp_path / f"{n}.heapsnapshot" for n in ("stream1", "inproc", "stream2")]
    with trio.fail_after(60):
        async with cdp_heap.open_cdp(app.ws_url) as conn:
            await cdp_heap.HeapProfiler(conn).enable()
            memory = await cdp_heap.read_target_memory(conn)
            route = cdp_heap.choose_route(memory, conn.url, paths[1])
            assert route.via == "in-process", route.reason
            await cdp_heap.save_snapshot(conn, paths[0])
            await conn.send("Runtime.evaluate", {"expression": "leak(1234)"})
            saved = await cdp_heap.save_snapshot_in_process(conn, paths[1], route)
            await conn.send("Runtime.evaluate", {"expression": "leak(321)"})
            await cdp_heap.save_snapshot(conn, paths[2])
    assert saved.via == "in-process" and saved.size == paths[1].stat().st_size
    for (base, target), leaked in zip(
        [(paths[0], paths[1]), (paths[1], paths[2])], (1234, 321), strict=True
    ):
        rows = diff(base, target)
        assert (rows["RequestContext"]["new"], rows["RequestContext"]["deleted"]) == (leaked, 0)
        # Renumbered ids would show thousands of unchanged objects as deleted and new.
        # Renumbered ids would show tens of thousands of unchanged JavaScript objects as
        # deleted and new. What does go: Node's native (embedder) nodes, renumbered by every
        # snapshot, streamed or not; a few code objects; and the few dozen temporaries of
        # writeHeapSnapshot itself (its buffers, its evaluate's code) after the in-process one.
        churn = {
            name: row["deleted"]
            for name, row in rows.items()
            if row["deleted"] and not name.startswith(("Node / ", "(synthetic)", "global / "))
        }
        assert sum(churn.values()) < 100, churn


@pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("setpriv") is None,
    reason="running the target as nobody (setpriv) and chowning its file need root",
)
def test_a_target_that_may_not_write_the_directory_streams(tmp_path: Path) -> None:
    # nobody must be able to read the app: the checkout may sit in a directory only root
    # may enter (a clone into `mktemp -d`, mode 0700), so it runs a copy.
    with tempfile.TemporaryDirectory(dir="/tmp") as readable:
        os.chmod(readable, 0o755)
        app = Path(shutil.copy(LEAKY_APP, readable))
        os.chmod(app, 0o644)
        nobody = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]
        target = start_inspected(
            [*nobody, "node", "--inspect=127.0.0.1:0", str(app), *LEAKY[1:]], ready=b" ready"
        )
    try:
        # pytest's tmp_path is root's, mode 0700: nobody may not even search it.
        line = snapshot_json("--url", target.ws_url, "-o", str(tmp_path / "n.heapsnapshot"))
        assert line["via"] == "stream"
        assert line["reason"] == f"process {target.pid} (uid 65534) may not write {tmp_path}"
        forced = run_cli("snapshot", "--url", target.ws_url, "-o", str(tmp_path / "x"))
        assert forced.returncode == 0
        refused = run_cli(
            "snapshot", "--url", target.ws_url, "-o", str(tmp_path / "y"), "--via", "in-process"
        )
        # And where nobody may write, the file is still ours and 0600 (we may chown).
        with tempfile.TemporaryDirectory(dir="/tmp") as shared:
            os.chmod(shared, 0o777)
            out = Path(shared) / "o.heapsnapshot"
            line = snapshot_json("--url", target.ws_url, "-o", str(out))
            st = out.stat()
            assert sorted(os.listdir(shared)) == [out.name]
    finally:
        target.kill()
    assert refused.returncode == 1 and not (tmp_path / "y").exists()
    assert refused.stderr.strip() == (
        f"cdp-heap: error: --via in-process: process {target.pid} (uid 65534) may not write "
        f"{tmp_path}; nothing was paused"
    )
    assert line["via"] == "in-process"
    assert st.st_uid == os.geteuid() and stat.S_IMODE(st.st_mode) == 0o600


def test_a_target_in_another_mount_namespace_streams(tmp_path: Path) -> None:
    if subprocess.run(["unshare", "-m", "true"], capture_output=True).returncode != 0:
        pytest.skip("unshare -m is not permitted here (needs CAP_SYS_ADMIN)")
    target = started(["unshare", "-m"])
    try:
        line = snapshot_json("--url", target.ws_url, "-o", str(tmp_path / "m.heapsnapshot"))
    finally:
        target.kill()
    assert line["via"] == "stream"
    assert line["reason"] == f"process {target.pid} is in another mount namespace"


async def test_behind_the_proxy_it_streams(app: Target, tmp_path: Path) -> None:
    with trio.fail_after(60):
        async with proxy_in_front(app.host, app.port) as proxy:
            where = ["--port", str(proxy.port)]
            auto = await trio.to_thread.run_sync(
                lambda: run_cli("snapshot", *where, "-o", str(tmp_path / "p"), "--json")
            )
            forced = await trio.to_thread.run_sync(
                lambda: run_cli(
                    "snapshot", *where, "-o", str(tmp_path / "q"), "--via", "in-process"
                )
            )
    assert auto.returncode == 0, auto.stderr
    line = json.loads(auto.stdout)
    assert line["via"] == "stream" and f"holds port {proxy.port}" in line["reason"]
    assert forced.returncode == 1 and "--via in-process: no process" in forced.stderr
    assert not (tmp_path / "q").exists()


@pytest.mark.parametrize(
    ("signum", "code", "message"),
    [(signal.SIGTERM, 143, "cdp-heap: terminated"), (signal.SIGINT, 130, "cdp-heap: interrupted")],
    ids=["SIGTERM", "SIGINT"],
)
def test_signal_mid_write_leaves_nothing(
    big_app: Target, tmp_path: Path, signum: int, code: int, message: str
) -> None:
    out = tmp_path / "term.heapsnapshot"
    proc = start_cli(
        "snapshot", "--url", big_app.ws_url, "-o", str(out), "--via", "in-process",
        preexec=default_signals,
    )  # fmt: skip
    wait_until(
        lambda: any(f.stat().st_size > 1_000_000 for f in staged(tmp_path)),
        proc,
        "the target began writing",
    )
    proc.send_signal(signum)
    stdout, stderr = proc.communicate(timeout=30)
    assert proc.returncode == code, stderr
    assert stderr.decode().strip() == message and stdout == b""
    assert list(tmp_path.iterdir()) == []
    # Once the target is done with the (unlinked) file, still nothing: ask it something,
    # which it answers only after its snapshot.
    assert trio.run(evaluate, big_app.ws_url, "6 * 7") == 42
    assert list(tmp_path.iterdir()) == []


async def evaluate(url: str, expression: str) -> Any:
    async with cdp_heap.open_cdp(url) as conn:
        reply = await conn.send(
            "Runtime.evaluate", {"expression": expression, "returnByValue": True}
        )
    return reply["result"].get("value")


async def test_cancelled_mid_write_leaves_nothing_and_the_connection_works(
    big_app: Target, tmp_path: Path
) -> None:
    out = tmp_path / "c.heapsnapshot"
    with trio.fail_after(60):
        async with cdp_heap.open_cdp(big_app.ws_url) as conn:
            memory = await cdp_heap.read_target_memory(conn)
            route = cdp_heap.choose_route(memory, conn.url, out)
            with trio.CancelScope() as scope:
                async with trio.open_nursery() as nursery:

                    async def cancel_once_writing() -> None:
                        # No event to wait on: the file grows in another process.
                        while not any(f.stat().st_size > 1e6 for f in staged(tmp_path)):  # noqa: ASYNC110
                            await trio.sleep(0.01)
                        scope.cancel()

                    nursery.start_soon(cancel_once_writing)
                    await cdp_heap.save_snapshot_in_process(conn, out, route)
            assert scope.cancelled_caught
            assert list(tmp_path.iterdir()) == []
            reply = await conn.send(
                "Runtime.evaluate", {"expression": "6 * 7", "returnByValue": True}
            )
            assert reply["result"]["value"] == 42
    assert list(tmp_path.iterdir()) == []


async def test_a_failed_write_is_reported_and_leaves_nothing(app: Target, tmp_path: Path) -> None:
    out = tmp_path / "f.heapsnapshot"
    with trio.fail_after(30):
        async with cdp_heap.open_cdp(app.ws_url) as conn:
            memory = await cdp_heap.read_target_memory(conn)
            route = cdp_heap.choose_route(memory, conn.url, out)
            # The target's v8.writeHeapSnapshot throws (as on a full disk).
            await conn.send(
                "Runtime.evaluate",
                {"expression": "globalThis.__w = process.getBuiltinModule('v8').writeHeapSnapshot;"
                 "process.getBuiltinModule('v8').writeHeapSnapshot = () => {"
                 " throw new Error('ENOSPC: no space left on device'); }"},
            )  # fmt: skip
            try:
                with pytest.raises(cdp_heap.CaptureError, match="ENOSPC: no space left"):
                    await cdp_heap.save_snapshot_in_process(conn, out, route)
            finally:
                await conn.send(
                    "Runtime.evaluate",
                    {"expression": "process.getBuiltinModule('v8').writeHeapSnapshot = __w"},
                )
    assert list(tmp_path.iterdir()) == []


def test_progress_on_a_terminal_shows_bytes(app: Target, tmp_path: Path) -> None:
    import pty

    controller, terminal = pty.openpty()
    out = tmp_path / "tty.heapsnapshot"
    proc = subprocess.Popen(
        [sys.executable, "-m", "cdp_heap", "snapshot", "--url", app.ws_url, "-o", str(out)],
        stdout=subprocess.PIPE,
        stderr=terminal,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)},
    )
    os.close(terminal)
    screen = bytearray()
    while True:
        try:
            data = os.read(controller, 65536)
        except OSError:  # EIO: the terminal's other end closed
            break
        if not data:
            break
        screen += data
    assert proc.wait(timeout=60) == 0
    os.close(controller)
    text = screen.decode(errors="replace")
    assert "writing " in text and "written by the target" in text


def test_an_esm_target_without_get_builtin_module(tmp_path: Path) -> None:
    """Node 20 before 20.16 has no process.getBuiltinModule, and an ES module has no
    process.mainModule: then only the console's require (includeCommandLineAPI) reaches v8."""
    script = tmp_path / "app.mjs"
    script.write_text(
        "delete process.getBuiltinModule;\n"
        "globalThis.keep = Array.from({length: 1000}, (_, i) => ({i}));\n"
        "setInterval(() => {}, 1 << 30);\nconsole.error('esm ready');\n"
    )
    target = start_inspected(["node", "--inspect=127.0.0.1:0", str(script)], ready=b"esm ready")
    try:
        out = tmp_path / "esm.heapsnapshot"
        line = snapshot_json("--url", target.ws_url, "-o", str(out))
    finally:
        target.kill()
    assert line["via"] == "in-process"
    assert json.loads(out.read_text())["snapshot"]["node_count"] > 0


def test_route_streams_for_anything_but_a_local_node(tmp_path: Path) -> None:
    node = cdp_heap.TargetMemory("node", pid=os.getpid(), can_write_snapshot=True)
    out = tmp_path / "r.heapsnapshot"
    for memory, url, reason in [
        (cdp_heap.TargetMemory("deno", pid=1), "ws://127.0.0.1:9229/x", "not Node.js"),
        (cdp_heap.TargetMemory("node", pid=1), "ws://127.0.0.1:9229/x", "not Node.js"),
        (node, "ws://10.1.2.3:9229/x", "reached over the network"),
        (node, "wss://inspector.example:443/x", "reached over the network"),
        # This process (pytest) holds no socket listening on port 1.
        (node, "ws://127.0.0.1:1/x", f"no process {os.getpid()} here holds port 1"),
    ]:
        route = cdp_heap.choose_route(memory, url, out)
        assert route.via == "stream" and reason in route.reason, (memory, url, route)
