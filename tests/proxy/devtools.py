"""The real DevTools frontend, served by headless Chromium, attached to a proxy: its own
WebSocket frames recorded (``Network.webSocketFrame*`` on the DevTools page), and its SDK
driven from inside the page (to make DevTools itself take a heap snapshot)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import trio

import cdp_heap
from tests.targets import Chromium


class DevToolsPage:
    """The DevTools frontend in a Chromium tab, its own WebSocket frames recorded."""

    def __init__(self, browser: cdp_heap.CDPConnection, session: str) -> None:
        self.browser = browser
        self.session = session
        self.sent: dict[int, str] = {}
        self.replied: set[int] = set()
        self.received_methods: list[str] = []
        self.handshake_errors: list[str] = []
        self.changed = trio.lowlevel.ParkingLot()

    def record(self, method: str, params: Any) -> None:
        if method == "Network.webSocketFrameError":
            self.handshake_errors.append(str(params.get("errorMessage")))
        elif method == "Network.webSocketHandshakeResponseReceived":
            status = params["response"]["status"]
            if status != 101:
                self.handshake_errors.append(f"HTTP {status}")
        else:
            message = json.loads(params["response"]["payloadData"])
            if method == "Network.webSocketFrameSent":
                self.sent[message["id"]] = message["method"]
            elif "id" in message:
                self.replied.add(message["id"])
            else:
                self.received_methods.append(message["method"])
        self.changed.unpark_all()

    def started(self) -> bool:
        wanted = {"Runtime.enable", "Debugger.enable", "Runtime.runIfWaitingForDebugger"}
        return wanted <= set(self.sent.values()) and set(self.sent) <= self.replied

    async def wait_until(self, predicate: Callable[[], bool]) -> None:
        while not predicate():
            await self.changed.park()

    async def evaluate(self, expression: str) -> Any:
        """Evaluate in the DevTools page itself (awaiting a promise); the value."""
        reply = await self.browser.send(
            "Runtime.evaluate",
            {"expression": expression, "awaitPromise": True, "returnByValue": True},
            session_id=self.session,
        )
        if "exceptionDetails" in reply:
            raise AssertionError(f"in the DevTools page: {reply['exceptionDetails']}")
        return reply["result"].get("value")

    async def take_heap_snapshot(self) -> str:
        """Make DevTools take a heap snapshot through its own SDK (the path the Memory
        panel's "Take snapshot" button takes: ``HeapProfilerModel.takeHeapSnapshot`` on the
        frontend's own connection); returns the snapshot text DevTools received."""
        size = await self.evaluate(TAKE_SNAPSHOT)
        parts = []
        step = 4 * 1024 * 1024
        for offset in range(0, size, step):
            parts.append(
                await self.evaluate(f"globalThis.__snapshot.slice({offset}, {offset + step})")
            )
        return "".join(parts)


TAKE_SNAPSHOT = """(async () => {
  const SDK = await import('./core/sdk/sdk.js');
  const manager = SDK.TargetManager.TargetManager.instance();
  const models = manager.models(SDK.HeapProfilerModel.HeapProfilerModel);
  if (models.length !== 1) throw new Error(`${models.length} HeapProfilerModels`);
  const model = models[0];
  const chunks = [];
  const listener = (event) => chunks.push(event.data);
  model.addEventListener('AddHeapSnapshotChunk', listener);
  try {
    await model.takeHeapSnapshot({reportProgress: false, treatGlobalObjectsAsRoots: true,
                                  captureNumericValue: false});
  } finally {
    model.removeEventListener('AddHeapSnapshotChunk', listener);
  }
  globalThis.__snapshot = chunks.join('');
  return globalThis.__snapshot.length;
})()"""

FRAMES = [
    "Network.webSocketFrameSent",
    "Network.webSocketFrameReceived",
    "Network.webSocketFrameError",
    "Network.webSocketHandshakeResponseReceived",
]


@asynccontextmanager
async def open_devtools(
    chromium: Chromium, ws_param: str, *, wait_started: bool = True, scheme: str = "ws"
) -> AsyncIterator[DevToolsPage]:
    """A new tab showing ``http://127.0.0.1:CHROME_PORT/devtools/js_app.html?ws=WS_PARAM``
    (the frontend Chromium serves; its origin is ``http://127.0.0.1:CHROME_PORT``)."""
    version = await cdp_heap.get_version("127.0.0.1", chromium.port)
    assert version.web_socket_debugger_url is not None
    async with (
        cdp_heap.open_cdp(version.web_socket_debugger_url) as browser,
        browser.subscribe(FRAMES, max_buffer=100_000) as subscription,
        trio.open_nursery() as nursery,
    ):
        created = await browser.send("Target.createTarget", {"url": "about:blank"})
        try:
            attached = await browser.send(
                "Target.attachToTarget", {"targetId": created["targetId"], "flatten": True}
            )
            devtools = DevToolsPage(browser, attached["sessionId"])

            async def watch() -> None:
                async for event in subscription:
                    if event.session_id == devtools.session:
                        devtools.record(event.method, event.params)

            nursery.start_soon(watch)
            await browser.send("Network.enable", session_id=devtools.session)
            frontend = f"http://127.0.0.1:{chromium.port}/devtools/js_app.html?{scheme}={ws_param}"
            await browser.send("Page.navigate", {"url": frontend}, session_id=devtools.session)
            if wait_started:
                await devtools.wait_until(devtools.started)
            yield devtools
        finally:
            await browser.send("Target.closeTarget", {"targetId": created["targetId"]})
            nursery.cancel_scope.cancel()
