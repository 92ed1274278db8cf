"""Sizes that the client and the proxy must agree on, defined once. No I/O, no trio.

The proxy imports these (it is a declared friend of this module) so that a message the
client accepts is never one the proxy refuses, or the other way round.
"""

from __future__ import annotations

MiB = 1024 * 1024

#: The largest WebSocket message accepted by default. Sampling profiles and command results
#: arrive as one message and can be large; a larger one closes the connection with code
#: 1009 (:class:`~cdp_heap.MessageTooLarge`) instead of being dropped.
DEFAULT_MAX_MESSAGE_SIZE = 256 * MiB

#: Bytes asked of the socket per read. trio-websocket's own default is 4 KiB, which makes a
#: 1 MiB snapshot chunk (Chromium, Deno) cost 256 reads.
RECEIVE_BUFFER_SIZE = 256 * 1024
