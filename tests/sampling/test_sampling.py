"""Sampling heap profiles against a real Node: sites, stopping on every exit, big profiles."""

from __future__ import annotations

import json
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path

import pytest
import trio

import cdp_heap
from cdp_heap import (
    AlreadyStopped,
    ConnectionClosed,
    HeapProfiler,
    ProfilerBusy,
    load_profile,
    open_cdp,
    open_sampling,
)
from tests.targets import Target

from .helpers import (
    WIDGETS_LINE,
    evaluate,
    is_sampling,
    many_sites_js,
    start_script,
)

MiB = 1024 * 1024


async def test_profile_names_the_allocating_function(widgets: Target, tmp_path: Path) -> None:
    with trio.fail_after(20):
        async with open_cdp(widgets.ws_url) as conn:
            async with open_sampling(conn, interval=4096) as sampler:
                await evaluate(conn, "allocateWidgets(100000)")
            profile = sampler.profile
            assert profile is not None
            top = profile.top_sites(3)
            assert top[0].function_name == "allocateWidgets", top
            assert top[0].url.endswith("widgets.js")
            assert (top[0].line_number, top[0].location.split(":")[-2]) == (
                WIDGETS_LINE,
                str(WIDGETS_LINE + 1),
            )
            # 100000 objects of ~30 bytes plus their strings, kept alive: several MB.
            assert top[0].self_size > 2 * MiB
            assert profile.total_size >= top[0].self_size
            assert profile.total_size == sum(s.self_size for s in profile.allocation_sites())

            saved = await cdp_heap.save_profile(profile, tmp_path / "w.heapprofile")
            data = json.loads(saved.path.read_text())
            assert set(data) == {"head", "samples"}
            assert data["head"]["callFrame"]["functionName"] == "(root)"
            assert saved.size == saved.path.stat().st_size
            assert load_profile(saved.path) == profile
            assert not await is_sampling(widgets.ws_url)


async def test_include_collected_keeps_freed_allocations(widgets: Target) -> None:
    expression = "allocateWidgets(50000); drop()"
    with trio.fail_after(20):
        async with open_cdp(widgets.ws_url) as conn:
            hp = HeapProfiler(conn)
            async with open_sampling(conn, interval=4096) as live:
                await evaluate(conn, expression)
                await hp.collect_garbage()
            async with open_sampling(conn, interval=4096, include_collected=True) as everything:
                await evaluate(conn, expression)
                await hp.collect_garbage()
    assert live.profile is not None and everything.profile is not None

    def widgets_size(profile: cdp_heap.SamplingHeapProfile) -> float:
        return sum(s.self_size for s in profile.allocation_sites() if s.name == "allocateWidgets")

    assert widgets_size(live.profile) < MiB / 4  # collected: (almost) nothing left
    assert widgets_size(everything.profile) > MiB


async def test_get_profile_while_sampling(widgets: Target) -> None:
    with trio.fail_after(20):
        async with open_cdp(widgets.ws_url) as conn, open_sampling(conn) as sampler:
            await evaluate(conn, "allocateWidgets(20000)")
            so_far = await sampler.get_profile()
            assert any(s.name == "allocateWidgets" for s in so_far.allocation_sites())
            assert not sampler.stopped
        assert sampler.stopped and sampler.profile is not None


@pytest.mark.parametrize("how", ["cancel", "error"])
async def test_leaving_early_stops_sampling(widgets: Target, how: str) -> None:
    """Cancelled or failing mid-sampling: the target stops, while our connection is still
    open (so it is our stop, not V8's clean-up of a closed session, that is checked)."""
    with trio.fail_after(20):
        async with open_cdp(widgets.ws_url) as conn:
            raises = pytest.raises(ValueError) if how == "error" else nullcontext()
            with trio.CancelScope() as scope, raises:
                async with open_sampling(conn, interval=1024) as sampler:
                    await evaluate(conn, "allocateWidgets(1000)")
                    assert await is_sampling(widgets.ws_url)
                    if how == "cancel":
                        scope.cancel()
                        await trio.sleep_forever()
                    raise ValueError("boom")
            assert scope.cancelled_caught == (how == "cancel")
            assert sampler.stopped and sampler.profile is not None
            assert not await is_sampling(widgets.ws_url)
            # The connection is still usable, and sampling can start again.
            async with open_sampling(conn) as again:
                assert await is_sampling(widgets.ws_url)
            assert again.profile is not None
            assert not await is_sampling(widgets.ws_url)


async def test_a_cancelled_stop_loses_the_profile_and_says_so(widgets: Target) -> None:
    with trio.fail_after(20):
        async with open_cdp(widgets.ws_url) as conn, open_sampling(conn) as sampler:
            with trio.move_on_after(0):  # the stop is sent (shielded), its answer abandoned
                await sampler.stop()
            assert sampler.stopped and sampler.profile is None
            with pytest.raises(AlreadyStopped, match="profile was not received"):
                await sampler.stop()
            assert not await is_sampling(widgets.ws_url)


async def test_disconnect_mid_sampling_leaves_target_not_sampling(widgets: Target) -> None:
    """V8 stops a closed session's sampling; leaving the block says the profile is lost."""
    with trio.fail_after(20):
        async with open_cdp(widgets.ws_url) as conn:
            with pytest.raises(ConnectionClosed):
                async with open_sampling(conn) as sampler:
                    await conn.aclose()
        assert sampler.profile is None
        assert not await is_sampling(widgets.ws_url)


async def test_second_client_gets_a_clear_error(widgets: Target) -> None:
    with trio.fail_after(20):
        async with open_cdp(widgets.ws_url) as first, open_cdp(widgets.ws_url) as second:
            async with open_sampling(first) as sampler:
                with pytest.raises(ProfilerBusy, match="already running"):
                    async with open_sampling(second):
                        pytest.fail("started while another client samples")
                await evaluate(first, "allocateWidgets(20000)")
            assert sampler.profile is not None  # the first client's sampling was untouched
            assert any(s.name == "allocateWidgets" for s in sampler.profile.top_sites(3))


async def test_stopped_by_another_client(widgets: Target) -> None:
    """V8 lets any session stop the (single) sampling profiler; we say so clearly."""
    with trio.fail_after(20):
        async with open_cdp(widgets.ws_url) as first, open_cdp(widgets.ws_url) as second:
            with pytest.raises(ProfilerBusy, match="stopped by another client"):
                async with open_sampling(first):
                    await HeapProfiler(second).stop_sampling()


async def test_profile_larger_than_one_mib(node: Callable[..., Target], tmp_path: Path) -> None:
    target = start_script(node, tmp_path, "sites.js", many_sites_js(2000))
    with trio.fail_after(30):
        async with open_cdp(target.ws_url) as conn:
            async with open_sampling(conn, interval=64, include_collected=True) as sampler:
                await evaluate(conn, "churnAll(2)")
                before = conn.statistics().bytes_received
            message = conn.statistics().bytes_received - before
    profile = sampler.profile
    assert profile is not None
    assert message > MiB, message  # the stopSampling reply alone
    sites = {s.name for s in profile.allocation_sites()}
    assert len({name for name in sites if name.startswith("site_")}) > 1900
    saved = await cdp_heap.save_profile(profile, tmp_path / "big.heapprofile")
    assert saved.size > MiB
    assert load_profile(saved.path) == profile
