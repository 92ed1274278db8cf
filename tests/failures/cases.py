"""Every failure a user can meet: what they did, the line cdp-heap prints, its exit code.

This list is the single source of docs/cli.md's failure table: the tests of this package
run each situation against the real CLI and check the result with :func:`expect`, and
``test_failure_table.py`` checks that the table in docs/cli.md is exactly
:func:`markdown_table` and that every case here is exercised by some test. To update the
docs after changing a case: ``python -m tests.failures.cases --write`` rewrites the table in
docs/cli.md (without ``--write`` it prints it).

Messages are the last line of stderr; ``{NAME}`` stands for what varies (a path, a port).
"""

from __future__ import annotations

import re
import subprocess

import attrs


@attrs.frozen
class Failure:
    key: str
    situation: str
    message: str
    code: int


FAILURES = (
    Failure(
        "usage",
        "a mistake on the command line (unknown option, bad value); the usage is printed first",
        "{PROG}: error: {WHAT}",
        2,
    ),
    Failure(
        "output-dir-missing",
        "`-o` (or `--html`) in a directory that does not exist",
        "cdp-heap: error: cannot write {FILE}: the directory does not exist; nothing was saved",
        1,
    ),
    Failure(
        "output-read-only",
        "`-o` (or `--html`) in a directory you cannot write; checked before anything starts",
        "cdp-heap: error: cannot write {FILE}: permission denied; nothing was saved",
        1,
    ),
    Failure(
        "output-disk-full",
        "the disk fills up while writing a snapshot, profile or HTML report",
        "cdp-heap: error: cannot write {FILE}: the disk is full; nothing was saved",
        1,
    ),
    Failure(
        "output-is-directory",
        "`-o FILE` names a directory",
        "cdp-heap: error: {FILE} is a directory; -o wants a file name",
        2,
    ),
    Failure(
        "leak-output-dir-unwritable",
        "`leak -o DIR`: DIR cannot be created (read-only parent, full disk)",
        "cdp-heap: error: cannot create {DIR}: permission denied; nothing was saved",
        1,
    ),
    Failure(
        "leak-output-dir-not-directory",
        "`leak -o DIR` names an existing file",
        "cdp-heap: error: {DIR} exists and is not a directory; -o wants a directory",
        2,
    ),
    Failure(
        "unreachable",
        "nothing listens at the inspector's address",
        "cdp-heap: error: cannot reach an inspector at {ADDRESS}: all attempts to connect to "
        "{ADDRESS} failed (is the process running with --inspect, or use --pid to activate it?)",
        1,
    ),
    Failure(
        "not-an-inspector",
        "the port is some other HTTP server",
        "cdp-heap: error: {ADDRESS} is an HTTP server but not a V8 inspector "
        "(/json/list answered HTTP 404)",
        1,
    ),
    Failure(
        "handshake-closed",
        "the inspector closes the connection during the WebSocket handshake (the target is "
        "killed just as cdp-heap connects, or `--url` names a server that hangs up)",
        "cdp-heap: error: the inspector at {ADDRESS} closed the connection during the "
        "WebSocket handshake",
        1,
    ),
    Failure(
        "port-out-of-range",
        "`--port` outside 1-65535",
        "cdp-heap: error: port {PORT} is out of range",
        2,
    ),
    Failure(
        "no-such-pid",
        "`--pid` of no process",
        "cdp-heap: error: no process with PID {PID}",
        1,
    ),
    Failure(
        "pid-not-node",
        "`--pid` of a process that is not Node.js (SIGUSR1 would kill it)",
        "cdp-heap: error: process {PID} is {EXE}, not Node.js; SIGUSR1 would likely kill it. "
        "For other runtimes start them with --inspect and use --port",
        1,
    ),
    Failure(
        "pid-check-refused-as-root",
        "`--pid` as root, where `/proc/PID/exe` cannot be read (a container)",
        "cdp-heap: error: cannot check that process {PID} is Node.js: reading /proc/{PID}/exe "
        "was refused even as root (cdp-heap lacks CAP_SYS_PTRACE, e.g. in a container, or the "
        "process is not dumpable); or start it with --inspect and use --port",
        1,
    ),
    Failure(
        "target-died",
        "the target exits or is killed during a snapshot",
        "cdp-heap: error: the target went away during the snapshot: it exited, crashed or was "
        "killed; nothing half-written was kept",
        1,
    ),
    Failure(
        "timeout",
        "`--timeout S` expires (e.g. the target is stopped)",
        "cdp-heap: error: timed out after {S} s (--timeout)",
        1,
    ),
    Failure(
        "proxy-upstream-unreachable",
        "a `cdp-heap proxy` whose upstream is unreachable",
        "cdp-heap: error: no inspectable target at {ADDRESS}: it is a cdp-heap proxy whose "
        "upstream is not attached (upstream inspector {UPSTREAM}: all attempts to connect to "
        "{UPSTREAM} failed); the proxy keeps retrying: try again once the target runs",
        1,
    ),
    Failure(
        "input-missing",
        "`diff` or `leak --files` of a file that does not exist",
        "cdp-heap: error: cannot read {FILE}: No such file or directory",
        1,
    ),
    Failure(
        "input-is-profile",
        "`diff` or `leak --files` given a `.heapprofile`",
        "cdp-heap: error: {FILE} is a sampling heap profile (from 'cdp-heap sample'), not a heap "
        "snapshot: 'cdp-heap sample' prints its top allocation sites, DevTools' Memory panel "
        "loads it (Load profile); diff and leak read .heapsnapshot files",
        1,
    ),
    Failure(
        "stdout-closed",
        "stdout closed by its reader (`cdp-heap diff ... --json | head -1`): not an error",
        "",
        0,
    ),
    Failure(
        "ambiguous-target",
        "the inspector offers several targets and no `--target` picks one",
        "cdp-heap: error: {N} targets; pick one with --target ID or a title regex: {LISTING}",
        1,
    ),
    Failure(
        "no-matching-target",
        "`--target ID|REGEX` matches no target",
        "cdp-heap: error: no inspectable target matching {SELECTOR}; targets: {LISTING}",
        1,
    ),
    Failure(
        "proxy-token-missing",
        "a `cdp-heap proxy` started with `--token`, and no `--token` given",
        "cdp-heap: error: {ADDRESS}/json/list answered HTTP 401: this proxy needs a token: "
        "send 'Authorization: Bearer TOKEN', or put it first in the path (/TOKEN/json/list, "
        "ws://HOST:PORT/TOKEN/ID); with cdp-heap: --token TOKEN or $CDP_HEAP_TOKEN",
        1,
    ),
    Failure(
        "proxy-token-wrong",
        "a wrong `--token`",
        "cdp-heap: error: {ADDRESS}/json/list answered HTTP 403: wrong token",
        1,
    ),
    Failure(
        "profiler-busy",
        "`sample` while another client samples the target (V8 has one sampler per process)",
        "cdp-heap: error: the target's sampling heap profiler is already running: another "
        "client (DevTools' Memory panel, another cdp-heap) is sampling it; V8 has only one per "
        "process, so stop that one first",
        1,
    ),
    Failure(
        "exercise-failed",
        "`leak --exercise COMMAND` exits non-zero",
        "cdp-heap: error: the --exercise command exited with status {STATUS} ({ROUND})",
        1,
    ),
    Failure(
        "leak-grew",
        "`leak --fail-on-growth N`: a class leaked more than N objects",
        "cdp-heap: leak: {CLASSES} leaked more than {OBJECTS}: {NAMES}",
        1,
    ),
    Failure(
        "incomparable",
        "`diff` / `leak --files` of snapshots from different processes or sessions",
        "cdp-heap: error: {BASE} and {TARGET} cannot be compared object by object: {COUNTS}, so "
        "they come from different processes or from different inspector sessions (V8 renumbers "
        "objects when a session disables the heap profiler). Take all snapshots in one session: "
        "'cdp-heap snapshot --count N', 'cdp-heap leak', or through 'cdp-heap proxy'",
        1,
    ),
    Failure(
        "truncated-snapshot",
        "a snapshot file cut short (a copy interrupted, a full disk elsewhere)",
        "cdp-heap: error: {FILE}: truncated: file ends inside {WHERE}",
        1,
    ),
    Failure(
        "not-a-snapshot",
        "a file that is not a heap snapshot at all",
        "cdp-heap: error: {FILE}: not a heap snapshot: it does not start with a JSON object",
        1,
    ),
    Failure(
        "sigterm",
        "SIGTERM (CI time-out, `docker stop`): what is half-written is removed",
        "cdp-heap: terminated",
        143,
    ),
    Failure(
        "sigint",
        "Ctrl-C: what is half-written is removed",
        "cdp-heap: interrupted",
        130,
    ),
)

BY_KEY = {failure.key: failure for failure in FAILURES}


def expect(result: subprocess.CompletedProcess[str], key: str, **values: str) -> None:
    """``result`` is failure ``key``: its exit code, and its message as stderr's last line."""
    failure = BY_KEY[key]
    lines = result.stderr.strip().splitlines()
    assert result.returncode == failure.code, result.stderr
    if not failure.message:  # says nothing
        assert lines == [], result.stderr
        return
    assert lines and re.fullmatch(pattern(failure.message, values), lines[-1]), result.stderr


def pattern(message: str, values: dict[str, str]) -> str:
    """A regex for ``message``: each ``{NAME}`` is ``values[NAME]`` when given, else any
    text (a count, a listing: what varies from run to run)."""
    parts = re.split(r"\{(\w+)\}", message)
    regex = ""
    for index, part in enumerate(parts):
        if index % 2 == 0:
            regex += re.escape(part)
        else:
            regex += re.escape(values[part]) if part in values else ".+?"
    return regex


def markdown_table() -> str:
    rows = [
        "| situation | message (last line of stderr) | exit |",
        "|---|---|---|",
    ]
    for failure in FAILURES:
        message = failure.message.replace("|", "\\|")
        situation = failure.situation.replace("|", "\\|")
        shown = f"`{message}`" if message else "(nothing)"
        rows.append(f"| {situation} | {shown} | {failure.code} |")
    return "\n".join(rows) + "\n"


BEGIN = "<!-- failure table: generated by `python -m tests.failures.cases --write` -->\n"
END = "<!-- end of failure table -->"


def with_table(document: str) -> str:
    """``document`` (docs/cli.md) with the text between the markers replaced by the table."""
    head, rest = document.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    return head + BEGIN + markdown_table() + END + tail


if __name__ == "__main__":
    import sys
    from pathlib import Path

    if sys.argv[1:] == ["--write"]:
        cli_md = Path(__file__).resolve().parents[2] / "docs" / "cli.md"
        cli_md.write_text(with_table(cli_md.read_text()))
    else:
        print(markdown_table(), end="")
