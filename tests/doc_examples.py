"""Shell examples in the docs that run as written: extraction and the harness that runs them.

The convention (docs/architecture.md, "Examples that run"): an HTML comment right before a
fenced ``sh`` or ``console`` block opts it in::

    <!-- doc-example: run -->              the block runs as written
    <!-- doc-example: run target=node -->  ... with scripts/leaky_app.js already listening
                                           on 127.0.0.1:9229, as the prose around it assumes

All the opted-in blocks of one page run in order in one bash session (a later block may use
files or processes an earlier one made), from a fresh directory with ``scripts/`` and
``tests/`` of the repository linked in, ``cdp-heap`` on ``PATH``, and private network,
process and ``/tmp`` namespaces, so that port 9229, ``pgrep node`` and ``/tmp/demo`` are the
example's own and parallel runs never meet.

``sh`` blocks run under ``set -e``: every command must succeed. In ``console`` blocks the
``$ `` lines are the commands (the rest is their output, which varies, so it is not
compared); each must exit 0 unless its shown output starts with ``cdp-heap: error`` or
``cdp-heap: leak`` (a failure the doc demonstrates: it must then exit non-zero), or the next
command is ``echo $?``. A command ending in ``&`` runs in the background; when it names a
port (``--inspect=HOST:PORT``, ``--remote-debugging-port=N``, ``--listen HOST:PORT``) the
next command waits until the port listens, as a person typing would.
"""

from __future__ import annotations

import re
import shlex
import sys
from pathlib import Path

import attrs

MARKER = re.compile(r"^<!-- doc-example: run(?P<options>[^>]*?)\s*-->\n```(?P<lang>\w+)\n", re.M)
_PORT = re.compile(
    r"(?:--inspect(?:-brk)?=(?:[\w.]+:)?|--remote-debugging-port=|--listen[= ](?:[\w.]+:)?)(\d+)"
)


@attrs.frozen
class Example:
    page: Path
    line: int
    lang: str
    text: str
    target: str | None


@attrs.frozen
class Command:
    line: int
    text: str
    expect_failure: bool | None  # None: either (the next command prints $?)
    background_port: int | None
    background: bool


def examples(page: Path) -> list[Example]:
    """The opted-in blocks of ``page``, in order."""
    source = page.read_text()
    found = []
    for match in MARKER.finditer(source):
        body_start = match.end()
        body_end = source.index("\n```", body_start - 1)
        options = dict(
            option.split("=", 1) for option in match.group("options").split() if "=" in option
        )
        found.append(
            Example(
                page=page,
                line=source.count("\n", 0, body_start) + 1,
                lang=match.group("lang"),
                text=source[body_start : body_end + 1],
                target=options.get("target"),
            )
        )
    return found


def console_commands(example: Example) -> list[Command]:
    """The ``$`` commands of a console block, with what the doc shows each one doing."""
    lines: list[str] = []
    numbers: list[int] = []  # each joined line's first line in the block
    for number, line in enumerate(example.text.splitlines()):
        if lines and lines[-1].startswith("$ ") and lines[-1].endswith("\\"):
            lines[-1] = lines[-1][:-1] + line.strip()  # a "\" continuation of a command
        else:
            lines.append(line)
            numbers.append(number)
    starts = [i for i, line in enumerate(lines) if line.startswith("$ ")]
    commands = []
    for n, i in enumerate(starts):
        text = lines[i][2:]
        end = starts[n + 1] if n + 1 < len(starts) else len(lines)
        shown = lines[i + 1 : end]
        following = lines[end][2:] if end < len(lines) else ""
        failure: bool | None = any(
            s.startswith(("cdp-heap: error", "cdp-heap: leak")) for s in shown
        )
        if following.split("#")[0].strip() == "echo $?":
            failure = None
        code = text.split(" #")[0].rstrip()
        background = code.endswith("&")
        port = _PORT.search(code) if background else None
        commands.append(
            Command(
                line=example.line + numbers[i],
                text=code,
                expect_failure=failure,
                background_port=int(port.group(1)) if port else None,
                background=background,
            )
        )
    return commands


TARGET_NODE = (
    "node --inspect=127.0.0.1:9229 scripts/leaky_app.js --leak-per-second 2000 2>/dev/null &\n"
    "__wait_port 9229\n"
)

PRELUDE = r"""
__wait_port() {  # until something listens on 127.0.0.1:$1 (at most 30 s)
    for _ in $(seq 300); do
        (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0
        sleep 0.1
    done
    echo "doc-example: nothing listens on port $1" >&2; return 1
}
__check() {  # LINE EXPECTED(0 ok, 1 fail, - either) STATUS
    local status=$3
    if [ "$2" = 0 ] && [ "$status" != 0 ]; then
        echo "doc-example: line $1 exited $status, the doc shows it succeeding" >&2
    elif [ "$2" = 1 ] && [ "$status" = 0 ]; then
        echo "doc-example: line $1 succeeded, the doc shows it failing" >&2
    fi
    return "$status"
}
"""


def script(page_examples: list[Example]) -> str:
    """One bash script running every example of a page, in order."""
    parts = [PRELUDE]
    for example in page_examples:
        if example.target == "node":
            parts.append(TARGET_NODE)
        elif example.target is not None:
            raise ValueError(f"{example.page}:{example.line}: unknown target={example.target}")
        if example.lang in ("sh", "bash"):
            parts.append(
                f"( set -e -o pipefail\n{example.text}) || "
                f"echo 'doc-example: the block at line {example.line} failed' >&2\n"
            )
        elif example.lang == "console":
            for command in console_commands(example):
                parts.append(command.text + "\n")
                if command.background:
                    if command.background_port is not None:
                        parts.append(f"__wait_port {command.background_port}\n")
                    continue
                expected = {True: "1", False: "0", None: "-"}[command.expect_failure]
                parts.append(f"__check {command.line} {expected} $?\n")
        else:
            raise ValueError(f"{example.page}:{example.line}: cannot run a {example.lang} block")
    return "".join(parts)


def namespaced(bash_script: str, root: Path) -> list[str]:
    """argv running ``bash_script`` in private network, pid and mount namespaces, /tmp a
    fresh tmpfs, from a new directory there with ``root``'s scripts/ and tests/ linked in;
    everything it started dies with it. Problems are ``doc-example:`` lines on stderr."""
    r = shlex.quote(str(root))
    # A checkout or a venv under /tmp (CI clones anywhere) would vanish under the new tmpfs:
    # each is opened as a file descriptor before /tmp is mounted over, then bound back at its
    # path through /proc/self/fd (--no-canonicalize, or mount would resolve the path by name,
    # to the new empty directory), so links, editable installs and the interpreter still work.
    kept = _under_tmp([root, Path(sys.prefix)])
    opened = "".join(f"exec {10 + i}<{shlex.quote(str(p))}; " for i, p in enumerate(kept))
    bound = "".join(
        f"mkdir -p {shlex.quote(str(p))}; "
        f"mount --no-canonicalize --bind /proc/self/fd/{10 + i} {shlex.quote(str(p))}; "
        for i, p in enumerate(kept)
    )
    inner = (
        f"set -eu; ip link set lo up; {opened}mount -t tmpfs tmpfs /tmp; {bound}"
        f"mkdir /tmp/example; cd /tmp/example; ln -s {r}/scripts scripts; "
        f"ln -s {r}/tests tests; set +eu; "
        'exec bash -c "$0"'
    )
    return ["unshare", "--net", "--pid", "--fork", "--mount-proc", "bash", "-c", inner, bash_script]


def _under_tmp(paths: list[Path]) -> list[Path]:
    """The directories of ``paths`` that lie under /tmp, outermost only."""
    tmp = Path("/tmp")
    found = sorted({p.resolve() for p in paths if p.resolve().is_relative_to(tmp)})
    return [p for p in found if not any(p != q and p.is_relative_to(q) for q in found)]
