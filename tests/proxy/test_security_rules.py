"""The access rules (:mod:`cdp_heap_proxy._security`, :mod:`cdp_heap_proxy._policy`), no
sockets."""

from __future__ import annotations

import pytest

from cdp_heap_proxy._policy import MethodPolicy
from cdp_heap_proxy._security import Guard, Refused, Role, check_token, is_loopback

FULL = "f" * 32
PROFILING = "p" * 32
ENDPOINTS = {"", "json", "snapshot", "the-proxy-id"}
GUARD = Guard(
    roles=(
        Role("token", FULL),
        Role("profiling-token", PROFILING, MethodPolicy.parse("HeapProfiler.*")),
    ),
    allowed_hosts=frozenset({"inspector.example"}),
    allowed_origins=frozenset({"https://tools.example"}),
)


def status(**request: str | None) -> int:
    fields: dict[str, str | None] = {"host": "127.0.0.1:9230", "origin": None}
    fields.update(request)
    with pytest.raises(Refused) as refused:
        GUARD.admit(
            host=fields["host"],
            origin=fields["origin"],
            path=fields.get("path") or "/json/list",
            authorization=fields.get("authorization"),
            endpoints=ENDPOINTS,
        )
    return refused.value.status


def admit(path: str, authorization: str | None = None) -> tuple[str, str]:
    role, rest = GUARD.admit(
        host="localhost:9230",
        origin=None,
        path=path,
        authorization=authorization,
        endpoints=ENDPOINTS,
    )
    return role.name, rest


def test_tokens_in_the_path_or_a_bearer_header_select_the_role() -> None:
    assert admit(f"/{FULL}/json/list") == ("token", "/json/list")
    assert admit(f"/{PROFILING}/the-proxy-id") == ("profiling-token", "/the-proxy-id")
    assert admit("/json/list", f"Bearer {FULL}") == ("token", "/json/list")
    assert admit(f"/{FULL}/json", f"Bearer {FULL}") == ("token", "/json")


def test_missing_token_is_401_and_a_wrong_one_403() -> None:
    assert status(path="/json/list") == 401
    assert status(path="/the-proxy-id") == 401
    assert status(path="/") == 401
    assert status(path=f"/{FULL[:-1]}x/json/list") == 403
    assert status(authorization="Bearer nope") == 403
    assert status(authorization="Basic Zm9vOmJhcg==") == 401
    assert status(path=f"/{PROFILING}/json", authorization=f"Bearer {FULL}") == 403


def test_host_must_not_be_a_foreign_name() -> None:
    for host in ("evil.example:9230", "evil.example", "127.0.0.1.nip.io:9230"):
        assert status(host=host, authorization=f"Bearer {FULL}") == 403
    for host in ("127.0.0.1:9230", "[::1]:9230", "localhost", "10.1.2.3:80", "inspector.example"):
        GUARD.check_host(host)


def test_origin_must_be_devtools_loopback_or_allowed() -> None:
    for origin in ("https://evil.example", "null", "http://127.0.0.1.evil.example"):
        assert status(origin=origin, authorization=f"Bearer {FULL}") == 403
    for origin in (
        "devtools://devtools",
        "http://127.0.0.1:9222",
        "http://localhost:3000",
        "http://[::1]:8080",
        "https://tools.example",
    ):
        GUARD.check_origin(origin)


def test_method_policy_patterns() -> None:
    policy = MethodPolicy.parse("HeapProfiler.*,Runtime.evaluate")
    assert policy.allows("HeapProfiler.takeHeapSnapshot") and policy.allows("Runtime.evaluate")
    assert not policy.allows("Runtime.callFunctionOn") and not policy.allows("Debugger.enable")
    assert policy.allows_event("HeapProfiler.addHeapSnapshotChunk")
    assert not policy.allows_event("Runtime.consoleAPICalled")
    assert not policy.allows_event("Debugger.scriptParsed")
    with pytest.raises(ValueError, match="not a method pattern"):
        MethodPolicy.parse("Runtime evaluate")


def test_loopback_and_token_rules() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.5")
    assert not is_loopback("myhost")
    with pytest.raises(ValueError, match="at least 16"):
        check_token("short")
    with pytest.raises(ValueError, match="URL paths"):
        check_token("a/b" * 10)
