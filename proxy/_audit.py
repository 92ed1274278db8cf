"""The audit trail: one line per client connect and disconnect, per snapshot, sampling or
tracking start, per refused request or method. ``--audit-log FILE`` or stderr.

Lines are ``TIME audit EVENT key=value ...`` (logfmt: values with spaces or quotes are JSON
strings), with the time in UTC. Tokens never appear: paths are logged without them.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime

AuditSink = Callable[[str], None]


def audit_line(event: str, **fields: object) -> str:
    now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    parts = [now, "audit", event]
    for key, value in fields.items():
        if value is None:
            continue
        text = str(value)
        if not text or any(c in text for c in ' "=\\') or not text.isprintable():
            text = json.dumps(text)
        parts.append(f"{key}={text}")
    return " ".join(parts)
