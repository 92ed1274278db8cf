"""The exceptions cdp-heap raises, as one tree.

Every error the library raises on purpose derives from :class:`CDPHeapError`, so a caller
can catch everything with one clause and still tell the cases apart::

    CDPHeapError
    ├── ConnectionFailed        could not open the WebSocket (refused, handshake rejected)
    ├── ConnectionClosed        the socket closed while in use; pending commands fail with it
    │   ├── MessageTooLarge     the peer sent a message over ``max_message_size``
    │   └── TargetDetached      the target sent ``Inspector.detached`` / detached the session
    ├── ProtocolError           the peer sent something that is not CDP (malformed JSON, ...)
    ├── CommandError            the target answered a command with a CDP error
    ├── DiscoveryError          ``/json/list`` unusable, no such target, ambiguous choice
    │   ├── InspectorUnreachable  nothing listens at the inspector's host:port
    │   └── ActivationError     SIGUSR1 activation of a Node process failed
    ├── CaptureError            a snapshot capture could not be completed or saved
    │   └── SnapshotWouldNotFit the memory pre-flight refused; nothing paused (``_preflight``)
    ├── ProfilerBusy            another client is sampling the target, or stopped our sampling
    ├── AlreadyStopped          sampling or tracking has ended: no second stop, no more samples
    └── SubscriptionOverflow    a subscription with policy ``"fail"`` could not keep up

Errors from the operating system that a caller can act on (a full disk, an unwritable
directory) are wrapped in :class:`CaptureError` with the original as ``__cause__``.
"""

from __future__ import annotations

from typing import Any


class CDPHeapError(Exception):
    """Base class of every error raised by cdp-heap."""


class ConnectionFailed(CDPHeapError):
    """The WebSocket to the target could not be opened."""


class ConnectionClosed(CDPHeapError):
    """The connection closed; commands still pending fail with this error.

    ``code`` and ``reason`` are the WebSocket close code and reason when known.
    """

    def __init__(self, message: str, *, code: int | None = None, reason: str | None = None):
        super().__init__(message)
        self.code = code
        self.reason = reason


class MessageTooLarge(ConnectionClosed):
    """The peer sent a message larger than the connection's ``max_message_size``.

    The WebSocket is closed with code 1009: a message cannot be skipped half-read.
    """


class TargetDetached(ConnectionClosed):
    """The target detached the session (``Inspector.detached`` or ``Target.detachedFromTarget``)."""


class ProtocolError(CDPHeapError):
    """The peer sent a message that is not valid CDP."""


class CommandError(CDPHeapError):
    """The target answered a command with an error object."""

    def __init__(self, method: str, code: int, message: str, data: Any = None):
        detail = f" ({data})" if data not in (None, "") else ""
        super().__init__(f"{method} failed: {message}{detail} [code {code}]")
        self.method = method
        self.code = code
        self.message = message
        self.data = data


class DiscoveryError(CDPHeapError):
    """The target could not be found through the inspector's HTTP endpoints.

    ``status`` is the HTTP status of the answer that was refused, if there was one, and
    ``detail`` what the server said with it (a cdp-heap proxy says why it refuses)."""

    def __init__(self, message: str, *, status: int | None = None, detail: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.detail = detail


class InspectorUnreachable(DiscoveryError):
    """Nothing accepts connections at the inspector's host:port."""


class ActivationError(DiscoveryError):
    """The inspector of a Node.js process could not be activated by PID."""


class CaptureError(CDPHeapError):
    """A heap snapshot could not be captured or saved; nothing was left at the destination."""


class SubscriptionOverflow(CDPHeapError):
    """Events were dropped because a ``policy="fail"`` subscription's buffer was full."""


class AlreadyStopped(CDPHeapError):
    """A sampling or tracking session was asked for more after it ended: a second
    :meth:`Tracker.stop <cdp_heap.Tracker.stop>`, a second :meth:`Sampler.stop
    <cdp_heap.Sampler.stop>` whose first one lost the profile (it was cancelled), a
    :meth:`Tracker.wait_sample <cdp_heap.Tracker.wait_sample>` once tracking is over."""


class ProfilerBusy(CDPHeapError):
    """The target's sampling heap profiler is in use by another client.

    V8 has one sampling heap profiler per isolate, shared by every inspector session: a
    second ``startSampling`` silently joins the first one's, and whichever session stops
    first ends it for both. cdp-heap refuses to start when it finds the profiler running,
    and raises this when its own sampling was stopped by someone else.
    """
