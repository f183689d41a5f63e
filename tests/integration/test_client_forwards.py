"""Forwards made with real mutt 2.2 and s-nail 14.9 (tests/fixtures/clients/make.sh) register
with the original's time, a clean complaint text and the forwarder's note kept.
Through the command line, as 综合部 would re-process a mail: `complaintd ingest`, `show --json`."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.integration.test_cli_maildir import complaintd
from tests.support.mail import ROOT, set_keys

pytestmark = pytest.mark.integration

CLIENTS = ROOT / "tests" / "fixtures" / "clients"
FORWARDS = ["mutt_forward_inline.eml", "mutt_forward_attached.eml", "snail_forward_inline.eml",
            "snail_forward_attached.eml"]
# What a client adds around the original, which must not become the complaint.
CLIENT_LINES = ("User-Agent", "MIME-Version", "Content-Type", "Content-Transfer-Encoding", "Message-ID", "Status:",
                "End forwarded message", "Forwarded message", "Original Message", "转综合部登记")


@pytest.mark.parametrize("name", FORWARDS)
def test_a_real_clients_forward_is_registered_cleanly(tmp_path: Path, name: str) -> None:
    shutil.copy(ROOT / "config.toml", tmp_path / "config.toml")
    set_keys(tmp_path / "config.toml", "reports", digest_at="off")
    out = complaintd(tmp_path, "ingest", str(CLIENTS / name)).stdout
    assert "registered MT-" in out, out
    case_id = out.split("registered ", 1)[1].split()[0]
    record = json.loads(complaintd(tmp_path, "show", case_id, "--json").stdout)
    assert record["original_sent_at"] == "2026-11-27T10:15:00+08:00"
    assert record["original_from_email"] == "li.reporter@jcwb.example.cn"
    assert record["original_subject"] == "光谷小区手机没有信号"
    assert record["forwarder_email"] == "sun@corp.example.com"
    assert record["forwarder_note"] == "转综合部登记，请按三类媒体投诉处理。"
    assert (record["category"], record["category_basis"]) == (3, "stated")
    text = record["complaint_text"]
    assert text.startswith("您好，我是江城晚报记者李明。") and "130 6080 9393" in text
    assert not [line for line in CLIENT_LINES if line in text], text
    assert record["phone"] == "13060809393" and record["reporter_name"] == "李明"
    assert record["media_outlet"] == "江城晚报"
