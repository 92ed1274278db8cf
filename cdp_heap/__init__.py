"""cdp-heap: V8 heap profiling over the Chrome DevTools Protocol, on trio."""

from ._errors import (
    ActivationError,
    CaptureError,
    CDPHeapError,
    CommandError,
    ConnectionClosed,
    ConnectionFailed,
    DiscoveryError,
    MessageTooLarge,
    ProtocolError,
    SubscriptionOverflow,
    TargetDetached,
)

__version__ = "0.1.0"

__all__ = [
    "ActivationError",
    "CDPHeapError",
    "CaptureError",
    "CommandError",
    "ConnectionClosed",
    "ConnectionFailed",
    "DiscoveryError",
    "MessageTooLarge",
    "ProtocolError",
    "SubscriptionOverflow",
    "TargetDetached",
]
