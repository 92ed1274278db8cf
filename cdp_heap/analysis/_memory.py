"""Process-wide memory tuning for the analysis commands.

glibc's malloc serves blocks above its *mmap threshold* with ``mmap`` and gives them back to the
system on ``free``. But the threshold is dynamic: every time a block served by mmap is freed,
it rises to that block's size (up to 32 MiB). After the first big numpy temporary is freed,
later temporaries of a few MiB come from the heap instead, where freed memory is reused by
Python objects and fragments rather than returned: measured on ``cdp-heap leak`` of 120 MB
snapshots, the peak resident size is ~25 % higher than with a fixed threshold. So the
threshold is fixed, at 1 MiB: every array of a quarter-million numbers or more (node and edge
columns, the graph's working arrays) is mmapped and returned when freed.

Below it, small blocks come from the heap and are *reused*, which is what keeps the reader
cheap: it parses a file in blocks of a few hundred KiB, and each block's temporaries (the
bytes read, the parsed ``int64`` numbers) would otherwise be fresh mmapped pages, each page
zeroed by the kernel on first touch and unmapped again: ~6 page faults per 4 KiB of file,
measured as 1.5 of the 3.4 seconds of ``leak`` on three 120 MB files. For the same reason
the heap keeps up to 16 MiB of free memory at its top (glibc's *trim threshold*, 128 KiB by
default once the mmap threshold is set) instead of returning and faulting it in again at
every block.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

#: ``M_TRIM_THRESHOLD`` and ``M_MMAP_THRESHOLD`` in glibc's ``malloc.h``.
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_MMAP_THRESHOLD = 1024 * 1024
_TRIM_THRESHOLD = 16 * 1024 * 1024


def fix_mmap_threshold() -> bool:
    """Pin glibc's mmap and trim thresholds (no-op elsewhere). True if they were set."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # musl and others: no mallopt
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    trim = bool(mallopt(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD))
    return bool(mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD)) and trim
