"""Activating the inspector of a running Node.js process by PID (``SIGUSR1``).

Node opens its inspector when it receives ``SIGUSR1``: on 127.0.0.1 and the port given by
``--inspect-port`` (or ``--inspect=HOST:PORT``), 9229 by default. Everything else here is
about failing clearly instead of hanging or doing harm:

- the signal's default action kills a process that is not Node, so we check the executable
  first;
- a PID that is gone or belongs to another user is reported as such;
- if the port already answers, it must be *this* process's inspector, otherwise Node could
  not bind it and we would wait forever. The listening socket tells (the process holds
  it among its file descriptors, in Linux's /proc: docs/decisions.md, D7); the target's
  title cannot, since Node puts the PID in it only for ``-e`` scripts, so the title is
  used only where /proc is missing;
- while waiting for the port, a process that exits is reported at once.
"""

from __future__ import annotations

import os
import re
import signal
from pathlib import Path

import trio

from ._discovery import TargetInfo, list_targets
from ._errors import ActivationError, DiscoveryError, InspectorUnreachable

DEFAULT_INSPECT_PORT = 9229
_PORT_FLAGS = re.compile(r"^--(?:inspect|inspect-brk|inspect-wait|inspect-port|debug-port)=(.+)$")


async def activate_inspector(
    pid: int, *, host: str = "127.0.0.1", port: int | None = None
) -> tuple[str, int]:
    """Make sure process ``pid``'s inspector listens; returns its ``(host, port)``.

    Waits until the port answers with this process's target (there is no notification to
    wait on, so it polls, checking each time that the process is still alive). Wrap it in a
    cancel scope to bound the wait.
    """
    _check_is_our_node(pid)
    if port is None:
        port = inspect_port_of(pid) or DEFAULT_INSPECT_PORT
    if _owner_of(await _targets_at(host, port), pid, port):
        return host, port
    try:
        os.kill(pid, signal.SIGUSR1)
    except ProcessLookupError:
        raise ActivationError(f"process {pid} exited before it could be activated") from None
    delay = 0.02
    while True:
        targets = await _targets_at(host, port)
        if _owner_of(targets, pid, port):
            return host, port
        if not _alive(pid):
            raise ActivationError(f"process {pid} exited while its inspector was starting")
        await trio.sleep(delay)
        delay = min(delay * 2, 0.25)


def _owner_of(targets: list[TargetInfo] | None, pid: int, port: int) -> bool:
    """Whether the inspector answering on ``port`` is ``pid``'s; raises if it is another's.

    Node titles a target ``NAME[PID]`` when run with ``-e`` but by the script's path
    otherwise, so the title cannot tell; the listening socket can (Linux's /proc).
    """
    if targets is None:
        return False
    owns = listens_on(pid, port)
    if owns is None:  # no /proc: trust the title where it carries the PID
        owns = any(t.title.endswith(f"[{pid}]") for t in targets) or len(targets) == 1
    if owns:
        return True
    titles = ", ".join(t.title for t in targets) or "no targets"
    raise ActivationError(
        f"port {port} is already used by another process's inspector ({titles}); "
        f"start process {pid} with --inspect-port=PORT and pass --port PORT"
    )


def listens_on(pid: int, port: int) -> bool | None:
    """Whether ``pid`` holds a socket listening on TCP ``port``; ``None`` if unknown."""
    listening: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state == "0A" and int(local.rsplit(":", 1)[1], 16) == port:
                listening.add(f"socket:[{inode}]")
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return None
    for fd in fds:
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}") in listening:
                return True
        except OSError:
            continue
    return False


async def _targets_at(host: str, port: int) -> list[TargetInfo] | None:
    """The targets on host:port, or ``None`` if nothing listens there yet."""
    try:
        return await list_targets(host, port)
    except InspectorUnreachable:
        return None
    except DiscoveryError as exc:
        raise ActivationError(
            f"port {port} is taken by something that is not a Node inspector ({exc}); "
            "pick another with --inspect-port"
        ) from None


def _check_is_our_node(pid: int) -> None:
    if pid <= 0:
        raise ActivationError(f"invalid PID {pid}")
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        raise ActivationError(f"no process with PID {pid}") from None
    except PermissionError:
        raise ActivationError(
            f"process {pid} belongs to another user; run cdp-heap as that user"
        ) from None
    exe = _executable(pid)
    if exe is not None and not re.match(r"^node(js)?(\d+)?$", Path(exe).name):
        raise ActivationError(
            f"process {pid} is {exe}, not Node.js; SIGUSR1 would likely kill it. "
            "For other runtimes start them with --inspect and use --port"
        )


def _executable(pid: int) -> str | None:
    """The process's executable path, or ``None`` where /proc cannot tell."""
    try:
        return os.readlink(f"/proc/{pid}/exe").removesuffix(" (deleted)")
    except PermissionError:
        # Reading another process's /proc/PID/exe takes ptrace rights: the same user, or
        # root with CAP_SYS_PTRACE over a dumpable process. Say which one failed.
        who = (
            "even as root (cdp-heap lacks CAP_SYS_PTRACE, e.g. in a container, or the process "
            "is not dumpable)"
            if os.geteuid() == 0
            else "(it belongs to another user: run cdp-heap as that user)"
        )
        raise ActivationError(
            f"cannot check that process {pid} is Node.js: reading /proc/{pid}/exe was refused "
            f"{who}; or start it with --inspect and use --port"
        ) from None
    except OSError:
        return None


def inspect_port_of(pid: int) -> int | None:
    """The inspector port that process ``pid`` was configured with, if any (command line,
    then ``NODE_OPTIONS``)."""
    args: list[str] = []
    for name, separator in (("cmdline", "\0"), ("environ", "\0")):
        try:
            text = Path(f"/proc/{pid}/{name}").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if name == "cmdline":
            args += text.split(separator)
        else:
            for entry in text.split(separator):
                if entry.startswith("NODE_OPTIONS="):
                    args += entry.removeprefix("NODE_OPTIONS=").split()
    for arg in args:
        match = _PORT_FLAGS.match(arg)
        if match:
            value = match.group(1).rsplit(":", 1)[-1]
            if value.isdigit() and int(value) > 0:
                return int(value)
    return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie has exited but not been reaped; it will never open a port.
    try:
        status = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return status != "Z"
