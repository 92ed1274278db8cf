"""A whole Chrome through one proxy, with real, unmodified clients at once: Puppeteer
(``puppeteer-core`` from npm, ``connect({browserURL})``), Playwright for Python
(``connect_over_cdp``), the DevTools frontend and ``cdp-heap snapshot --target``.

Every test here shares one headless Chromium started for this module (the proxy serves all
of its targets, so the session-wide one other modules use would show up in their lists).
puppeteer-core is installed by ``.ci/run`` into ``$CDP_HEAP_TEST_CACHE/npm`` (default
``~/.cache/cdp-heap-tests/npm``); without it, and without npm to install it, the Puppeteer
tests are skipped with that reason.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import trio

import cdp_heap
from cdp_heap.cli._proxy import _warn_if_unreachable as warn_if_unreachable
from cdp_heap_proxy import Guard, MethodPolicy, Proxy, ProxyConfig, Role, UpstreamSpec, open_proxy
from tests.targets import Chromium, chromium_path, start_chromium

from .devtools import FRAMES, open_devtools
from .helpers import http_request, run_cdp_heap, run_proxy_cli

pytestmark = pytest.mark.chromium

#: What a person running Puppeteer or Playwright through the proxy grants.
OPEN_PAGES = "*,Target.createTarget,Target.closeTarget"
CHUNK = "HeapProfiler.addHeapSnapshotChunk"


def npm_cache() -> Path:
    root = os.environ.get("CDP_HEAP_TEST_CACHE") or Path.home() / ".cache" / "cdp-heap-tests"
    return Path(root) / "npm"


@pytest.fixture(scope="module")
def browser() -> Iterator[Chromium]:
    if chromium_path() is None:
        pytest.skip("chromium is not installed (apt-get install chromium)")
    started = start_chromium()
    yield started
    started.stop()


@pytest.fixture(scope="module")
def puppeteer() -> Path:
    """The directory of puppeteer-core (installed there if npm can)."""
    where = npm_cache()
    module = where / "node_modules" / "puppeteer-core"
    if not module.is_dir():
        if shutil.which("npm") is None:
            pytest.skip(f"puppeteer-core is not in {where} and npm is not installed")
        done = subprocess.run(
            ["npm", "install", "--no-audit", "--no-fund", "--prefix", str(where), "puppeteer-core"],
            capture_output=True,
            timeout=300,
            env={**os.environ, "PUPPETEER_SKIP_DOWNLOAD": "1"},
        )
        if done.returncode != 0 or not module.is_dir():
            pytest.skip(f"npm install puppeteer-core failed: {done.stderr[-300:]!r}")
    return module


@asynccontextmanager
async def browser_proxy(chrome: Chromium, allow: str = "*", **config: Any) -> AsyncIterator[Proxy]:
    """A proxy serving the whole of ``chrome``, upstream connected."""
    policy = MethodPolicy.parse(allow)
    guard = config.pop("guard", None) or Guard(
        roles=(Role("no-token", None, policy),), listen_host="127.0.0.1"
    )
    spec = UpstreamSpec("127.0.0.1", chrome.port)
    async with open_proxy(
        ProxyConfig(spec, listen_port=0, browser=True, guard=guard, **config)
    ) as p:
        await p.wait_until(lambda: p.hub is not None and p.hub.upstream_connected)
        yield p


@asynccontextmanager
async def page_with(chrome: Chromium, class_name: str) -> AsyncIterator[str]:
    """A page holding 2000 instances of ``class_name``, created directly (not through the
    proxy); its target id. Closed afterwards."""
    keep = f"Array.from({{length: 2000}}, () => new {class_name}())"
    script = f"class {class_name} {{}}; window.keep = {keep}"
    version = await cdp_heap.get_version("127.0.0.1", chrome.port)
    assert version.web_socket_debugger_url is not None
    async with cdp_heap.open_cdp(version.web_socket_debugger_url) as direct:
        url = f"data:text/html,<title>{class_name}</title><script>{script}</script>"
        created = await direct.send("Target.createTarget", {"url": url})
        try:
            yield created["targetId"]
        finally:
            await direct.send("Target.closeTarget", {"targetId": created["targetId"]})
    await wait_target_gone(chrome, created["targetId"])


async def wait_target_gone(chrome: Chromium, target_id: str) -> None:
    """Wait until Chrome has destroyed ``target_id`` (closing is asynchronous)."""
    version = await cdp_heap.get_version("127.0.0.1", chrome.port)
    assert version.web_socket_debugger_url is not None
    async with (
        cdp_heap.open_cdp(version.web_socket_debugger_url) as direct,
        direct.subscribe(["Target.targetDestroyed"]) as destroyed,
    ):
        await direct.send("Target.setDiscoverTargets", {"discover": True})
        targets = await direct.send("Target.getTargets")
        if target_id not in {t["targetId"] for t in targets["targetInfos"]}:
            return
        async for event in destroyed:
            if event.params["targetId"] == target_id:
                return


async def assert_closed(chrome: Chromium, title: str) -> None:
    """No page titled ``title`` is left: the proxy closed it (``Target.closeTarget``,
    which Chrome answers before the page has gone from its list, hence the wait)."""
    with trio.move_on_after(10):  # a page the proxy did not close stays: fails below
        for target in await cdp_heap.list_targets("127.0.0.1", chrome.port):
            if target.title == title:
                await wait_target_gone(chrome, target.id)
    titles = {t.title for t in await cdp_heap.list_targets("127.0.0.1", chrome.port)}
    assert title not in titles


def hub_clean(proxy: Proxy) -> bool:
    stats = proxy.statistics()["router"]
    return bool(stats["clients"] == stats["sessions"] == stats["snapshots_queued"] == 0)


async def upstream_ids(chrome: Chromium) -> set[str]:
    return {t.id for t in await cdp_heap.list_targets("127.0.0.1", chrome.port)}


# -- discovery -------------------------------------------------------------------------------


async def test_every_target_and_the_browser_endpoint_at_the_proxy(browser: Chromium) -> None:
    token = "a-token-of-32-characters-or-more-0123"
    guard = Guard(roles=(Role("token", token),), listen_host="127.0.0.1")
    with trio.fail_after(60):
        async with browser_proxy(browser, guard=guard) as proxy:
            version = json.loads(
                (await http_request(proxy.port, "GET", f"/{token}/json/version")).body
            )
            assert version["webSocketDebuggerUrl"] == (
                f"ws://127.0.0.1:{proxy.port}/{token}/devtools/browser/{proxy.id}"
            )
            async with page_with(browser, "ListedThing") as target_id:
                listed = json.loads(
                    (await http_request(proxy.port, "GET", f"/{token}/json/list")).body
                )
                assert {e["id"] for e in listed} == await upstream_ids(browser)
                (entry,) = [e for e in listed if e["id"] == target_id]
                at = f"127.0.0.1:{proxy.port}/{token}/devtools/page/{target_id}"
                assert entry["webSocketDebuggerUrl"] == f"ws://{at}"
                assert entry["devtoolsFrontendUrl"].endswith(f"?ws={at}")
                # The browser endpoint answers browser-level commands.
                async with cdp_heap.open_cdp(version["webSocketDebuggerUrl"]) as conn:
                    targets = await conn.send("Target.getTargets")
                    assert target_id in {t["targetId"] for t in targets["targetInfos"]}
            # Closed upstream: gone from the proxy's list too.
            listed = json.loads((await http_request(proxy.port, "GET", f"/{token}/json/list")).body)
            assert target_id not in {e["id"] for e in listed}


async def test_a_wrong_browser_url_is_a_usage_error(browser: Chromium) -> None:
    url = f"ws://127.0.0.1:{browser.port}/devtools/browser/not-this-one"
    done = await trio.run_process(
        [sys.executable, "-m", "cdp_heap", "proxy", "--upstream", url, "--listen", "127.0.0.1:0"],
        capture_stderr=True,
        check=False,
    )
    assert done.returncode == 2
    assert "is a browser whose endpoint is ws://" in done.stderr.decode()


async def test_chromes_own_browser_url_serves_the_whole_browser(browser: Chromium) -> None:
    """``--upstream ws://.../devtools/browser/ID``, what Chrome prints, from the CLI."""
    version = await cdp_heap.get_version("127.0.0.1", browser.port)
    assert version.web_socket_debugger_url is not None
    with trio.fail_after(60):
        async with run_proxy_cli(
            "--upstream", version.web_socket_debugger_url, "--listen", "127.0.0.1:0"
        ) as running:
            reply = await http_request(running.port, "GET", "/json/version")
            served = json.loads(reply.body)["webSocketDebuggerUrl"]
            assert re.fullmatch(
                rf"ws://127\.0\.0\.1:{running.port}/devtools/browser/[-\w]+", served
            )
            listed = json.loads((await http_request(running.port, "GET", "/json/list")).body)
            assert {e["id"] for e in listed} == await upstream_ids(browser)


async def test_no_unreachable_warning_once_the_browser_is_attached(
    browser: Chromium, capsys: pytest.CaptureFixture[str]
) -> None:
    """The CLI's warning waits for the upstream session of the routing in use (the
    browser's, here): it waited for the idle one-target router's, and told every user of
    a browser proxy, a second after it attached, that the target was not connected."""
    with trio.fail_after(30):
        async with browser_proxy(browser) as proxy:
            await warn_if_unreachable(proxy, f"127.0.0.1:{browser.port}")  # returns at once
            assert capsys.readouterr().err == ""
            attached = trio.Event()

            async def report() -> None:
                attached.set()
                await proxy.wait_upstream(connected=False)

            async with trio.open_nursery() as nursery:
                nursery.start_soon(report)
                await attached.wait()
                proxy.upstream.close("test")  # the session ends; the waiter sees it
    assert "warning" not in capsys.readouterr().err


# -- Puppeteer, DevTools and cdp-heap on one page --------------------------------------------

PUPPETEER = r"""
const puppeteer = require(process.env.PUPPETEER);
const readline = require('readline');
const lines = readline.createInterface({input: process.stdin});
const next = () => new Promise((resolve) => lines.once('line', resolve));
const [url, out, mode] = process.argv.slice(-3);
(async () => {
  const browser = await puppeteer.connect({browserURL: url});
  const before = (await browser.pages()).map((p) => p.url());
  const page = await browser.newPage();
  await page.goto('data:text/html,<title>PuppeteerPage</title>');
  const sum = await page.evaluate(() => {
    class PuppeteerThing {}
    window.keep = Array.from({length: 3000}, () => new PuppeteerThing());
    return 1 + 2;
  });
  const existing = (await browser.pages()).find((p) => p.url().includes('SharedThing'));
  console.log(JSON.stringify({ready: true, before, sum, found: Boolean(existing)}));
  await next();  // the test has DevTools and cdp-heap going on the shared page
  const session = await existing.createCDPSession();
  const chunks = [];
  session.on('HeapProfiler.addHeapSnapshotChunk', (e) => {
    chunks.push(e.chunk);
    if (mode === 'crash-mid-snapshot') process.kill(process.pid, 'SIGKILL');
  });
  await session.send('HeapProfiler.takeHeapSnapshot', {reportProgress: false});
  require('fs').writeFileSync(out, chunks.join(''));
  console.log(JSON.stringify({snapshot: true}));
  if (mode === 'crash') process.kill(process.pid, 'SIGKILL');
  await next();
  await browser.disconnect();
  process.exit(0);  // stdin (readline) would keep node running
})().catch((e) => { console.error(e); process.exit(1); });
"""


class NodeScript:
    """A node process speaking JSON lines on stdout, told to go on by lines on stdin."""

    def __init__(self, process: trio.Process) -> None:
        self.process = process
        self.buffer = b""

    async def read(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        while b"\n" not in self.buffer:
            data = await self.process.stdout.receive_some(65536)
            if not data:
                raise AssertionError("the node script ended early")
            self.buffer += data
        line, _, self.buffer = self.buffer.partition(b"\n")
        result: dict[str, Any] = json.loads(line)
        return result

    async def go(self) -> None:
        assert self.process.stdin is not None
        await self.process.stdin.send_all(b"go\n")


@asynccontextmanager
async def run_puppeteer(
    module: Path, proxy: Proxy, out: Path, *, mode: str = "clean"
) -> AsyncIterator[NodeScript]:
    argv = ["node", "-e", PUPPETEER, "--", f"http://127.0.0.1:{proxy.port}", str(out)]
    async with trio.open_nursery() as nursery:
        process = await nursery.start(
            partial(
                trio.run_process,
                [*argv, mode],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                env={**os.environ, "PUPPETEER": str(module)},
                check=False,
            )
        )
        yield NodeScript(process)
        await process.wait()


async def test_puppeteer_devtools_and_cdp_heap_on_one_page(
    browser: Chromium, puppeteer: Path, tmp_path: Path
) -> None:
    with trio.fail_after(120):
        async with (
            browser_proxy(browser, OPEN_PAGES) as proxy,
            page_with(browser, "SharedThing") as shared,
            run_puppeteer(puppeteer, proxy, tmp_path / "puppeteer.heapsnapshot") as script,
        ):
            ready = await script.read()
            assert ready["sum"] == 3 and ready["found"] and ready["before"]
            ws_param = f"127.0.0.1:{proxy.port}/devtools/page/{shared}"
            async with (
                open_devtools(browser, ws_param) as devtools,
                devtools.browser.subscribe(FRAMES, max_buffer=100_000) as frames,
                trio.open_nursery() as nursery,
            ):
                heard: list[str] = []  # the chunks DevTools' own WebSocket received
                more = trio.lowlevel.ParkingLot()

                async def count_chunks() -> None:
                    async for event in frames:
                        if event.session_id != devtools.session:
                            continue
                        if event.method == "Network.webSocketFrameReceived":
                            payload = event.params["response"]["payloadData"]
                            if payload.startswith(f'{{"method":"{CHUNK}"'):
                                heard.append(json.loads(payload)["params"]["chunk"])
                                more.unpark_all()

                nursery.start_soon(count_chunks)
                results: dict[str, Any] = {}

                async def devtools_snapshot() -> None:
                    results["devtools"] = await devtools.take_heap_snapshot()

                async def cdp_heap_snapshot() -> None:
                    out = tmp_path / "cdp-heap.heapsnapshot"
                    await run_cdp_heap(
                        "snapshot",
                        "--port",
                        str(proxy.port),
                        "--target",
                        "SharedThing",
                        "-o",
                        str(out),
                    )
                    results["cdp-heap"] = out.read_text()

                async def puppeteer_snapshot() -> None:
                    await script.go()
                    assert await script.read() == {"snapshot": True}
                    results["puppeteer"] = (tmp_path / "puppeteer.heapsnapshot").read_text()

                async with trio.open_nursery() as three:
                    three.start_soon(devtools_snapshot)
                    three.start_soon(cdp_heap_snapshot)
                    three.start_soon(puppeteer_snapshot)
                for name, text in results.items():
                    assert "SharedThing" in json.loads(text)["strings"], name
                # DevTools heard exactly its own snapshot's chunks, none of the others'.
                while sum(map(len, heard)) < len(results["devtools"]):
                    await more.park()
                assert "".join(heard) == results["devtools"]
                nursery.cancel_scope.cancel()
            stats = proxy.statistics()["router"]
            assert stats["snapshots_completed"] >= 3 and stats["snapshots_queued"] == 0
            await script.go()
        await proxy.wait_until(lambda: hub_clean(proxy))
        # Puppeteer's newPage was closed when it left; the shared page is still there.
        await assert_closed(browser, "PuppeteerPage")


async def test_a_client_that_dies_has_its_target_closed_and_sessions_detached(
    browser: Chromium, puppeteer: Path, tmp_path: Path
) -> None:
    """Puppeteer (auto-attach on, a page created) is SIGKILLed; a cdp-heap client on
    another page carries on."""
    with trio.fail_after(90):
        async with (
            browser_proxy(browser, OPEN_PAGES) as proxy,
            page_with(browser, "SharedThing") as shared,
        ):
            async with cdp_heap.open_cdp(
                f"ws://127.0.0.1:{proxy.port}/devtools/page/{shared}"
            ) as other:
                before = await upstream_ids(browser)
                out = tmp_path / "p.heapsnapshot"
                async with run_puppeteer(puppeteer, proxy, out, mode="crash") as script:
                    await script.read()
                    during = await upstream_ids(browser)
                    (created,) = during - before
                    await script.go()
                    assert await script.read() == {"snapshot": True}
                await proxy.wait_until(lambda: proxy.statistics()["router"]["clients"] == 1)
                stats = proxy.statistics()["router"]
                assert stats["sessions"] == 1 and stats["created_targets"] == 0
                assert stats["sessions_by_client"][0][1] == 1  # the other client's home only
                await wait_target_gone(browser, created)
                reply = await other.send("Runtime.evaluate", {"expression": "keep.length"})
                assert reply["result"]["value"] == 2000
        await proxy.wait_until(lambda: hub_clean(proxy))


async def test_a_client_that_dies_mid_snapshot_lets_the_next_one_run(
    browser: Chromium, puppeteer: Path, tmp_path: Path
) -> None:
    """Puppeteer is SIGKILLed on its snapshot's first chunk (its session is detached while
    Chrome still streams); a cdp-heap snapshot of the same page then runs and is whole, and
    the hub holds nothing of Puppeteer. (The gate's queueing: test_sessions*.py.)"""
    with trio.fail_after(90):
        async with (
            browser_proxy(browser, OPEN_PAGES) as proxy,
            page_with(browser, "SharedThing") as _,
        ):
            out = tmp_path / "p.heapsnapshot"
            async with run_puppeteer(puppeteer, proxy, out, mode="crash-mid-snapshot") as script:
                await script.read()
                await script.go()
                await proxy.wait_until(lambda: stats(proxy)["snapshots_in_flight"] == 1)
                mine = tmp_path / "cdp-heap.heapsnapshot"
                await run_cdp_heap(
                    "snapshot",
                    "--port",
                    str(proxy.port),
                    "--target",
                    "SharedThing",
                    "-o",
                    str(mine),
                )
            assert "SharedThing" in json.loads(mine.read_text())["strings"]
            assert stats(proxy)["snapshots_completed"] >= 1
            await proxy.wait_until(lambda: hub_clean(proxy))


def stats(proxy: Proxy) -> dict[str, Any]:
    router: dict[str, Any] = proxy.statistics()["router"]
    return router


# -- Playwright for Python -------------------------------------------------------------------


def playwright_snapshot(url: str, page_title: str) -> dict[str, Any]:
    """Playwright's sync API (in a worker thread): connect, find the page, snapshot it."""
    playwright = pytest.importorskip("playwright.sync_api")
    with playwright.sync_playwright() as p:
        connected = p.chromium.connect_over_cdp(url)
        try:
            pages = [page for context in connected.contexts for page in context.pages]
            (page,) = [page for page in pages if page.title() == page_title]
            session = page.context.new_cdp_session(page)
            chunks: list[str] = []
            session.on("HeapProfiler.addHeapSnapshotChunk", lambda e: chunks.append(e["chunk"]))
            session.send("HeapProfiler.takeHeapSnapshot", {"reportProgress": False})
            new = page.context.new_page()
            new.goto("data:text/html,<title>PlaywrightPage</title>")
            return {
                "pages": len(pages),
                "snapshot": json.loads("".join(chunks)),
                "new": new.title(),
            }
        finally:
            connected.close()


async def test_playwright_connect_over_cdp(browser: Chromium) -> None:
    pytest.importorskip("playwright.sync_api")
    with trio.fail_after(90):
        async with (
            browser_proxy(browser, OPEN_PAGES) as proxy,
            page_with(browser, "PlaywrightThing") as _,
        ):
            url = f"http://127.0.0.1:{proxy.port}"
            seen = await trio.to_thread.run_sync(playwright_snapshot, url, "PlaywrightThing")
            assert seen["pages"] >= 1 and seen["new"] == "PlaywrightPage"
            assert "PlaywrightThing" in seen["snapshot"]["strings"]
            await proxy.wait_until(lambda: hub_clean(proxy))
            await assert_closed(browser, "PlaywrightPage")  # the page it created


# -- the default policy ----------------------------------------------------------------------


async def test_new_pages_are_refused_unless_allowed(browser: Chromium) -> None:
    with trio.fail_after(60):
        async with browser_proxy(browser) as proxy:
            version = json.loads((await http_request(proxy.port, "GET", "/json/version")).body)
            async with cdp_heap.open_cdp(version["webSocketDebuggerUrl"]) as conn:
                for method, params in [
                    ("Target.createTarget", {"url": "about:blank"}),
                    ("Browser.close", {}),
                ]:
                    with pytest.raises(cdp_heap.CommandError, match="explicit --allow-methods"):
                        await conn.send(method, params)
            assert proxy.statistics()["router"]["denied_by_policy"] == 2
