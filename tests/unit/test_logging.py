"""--log-format json: one JSON object per line, for collectors."""

from __future__ import annotations

import json
import logging

from daemon.__main__ import JsonFormatter


def test_each_event_is_one_json_line_with_its_exception() -> None:
    """Message with case and Message-ID, Chinese kept as is, the traceback inside, no newline out."""
    try:
        raise ValueError("坏")
    except ValueError:
        import sys

        record = logging.LogRecord("daemon.intake", logging.ERROR, __file__, 1,
                                   "processing failed key=%s message_id=%s", ("MT-1", "<a@b>"), sys.exc_info())
    line = JsonFormatter().format(record)
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["level"] == "ERROR" and entry["logger"] == "daemon.intake"
    assert entry["message"] == "processing failed key=MT-1 message_id=<a@b>"
    assert "ValueError: 坏" in entry["exception"]
