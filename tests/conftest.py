"""Shared fixtures: real Node, Deno and Chromium targets (see tests/targets.py)."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator

import pytest
from hypothesis import settings

from tests.targets import (
    Chromium,
    Target,
    chromium_path,
    start_chromium,
    start_leaky_app,
    start_node,
)

# No per-example deadline anywhere: it is a timed assertion, and on a loaded two-CPU
# machine (xdist beside Chromium and Node) an example can take longer than 200 ms.
settings.register_profile("cdp-heap", deadline=None)
settings.load_profile("cdp-heap")


@pytest.fixture
def node() -> Iterator[Callable[..., Target]]:
    """A factory: ``node(script="...")`` starts ``node --inspect=127.0.0.1:0 -e script``."""
    started: list[Target] = []

    def start(*args: str, **kwargs: object) -> Target:
        target = start_node(*args, **kwargs)  # type: ignore[arg-type]
        started.append(target)
        return target

    yield start
    for target in started:
        target.kill()


@pytest.fixture
def leaky_app() -> Iterator[Target]:
    """scripts/leaky_app.js with its timer off: leaks only when a test calls leak(n)."""
    target = start_leaky_app()
    yield target
    target.kill()


@pytest.fixture(scope="session")
def chromium() -> Iterator[Chromium]:
    if chromium_path() is None:
        pytest.skip("chromium is not installed (apt-get install chromium)")
    browser = start_chromium()
    yield browser
    browser.stop()


@pytest.fixture
def deno_path() -> str:
    path = shutil.which("deno")
    if path is None:
        pytest.skip("deno is not installed (pip install deno)")
    return path
