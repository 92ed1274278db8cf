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
        "cdp-heap: error: no inspectable target at {ADDRESS}: it is a cdp-heap proxy and its "
        "upstream inspector {UPSTREAM} is unreachable (all attempts to connect to {UPSTREAM} "
        "failed); the proxy keeps retrying: try again once the target runs",
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
        "stdout closed by its reader (`cdp-heap diff ... --json \\| head -1`): not an error",
        "",
        0,
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
    assert lines and lines[-1] == failure.message.format(**values), result.stderr


def markdown_table() -> str:
    rows = [
        "| situation | message (last line of stderr) | exit |",
        "|---|---|---|",
    ]
    for failure in FAILURES:
        message = failure.message.replace("|", "\\|")
        shown = f"`{message}`" if message else "(nothing)"
        rows.append(f"| {failure.situation} | {shown} | {failure.code} |")
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
