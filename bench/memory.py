"""Peak memory with a complaint carrying one large attachment, per transfer encoding: of
parse() alone, and of the intake process taking the mail end to end.

    .venv/bin/python bench/memory.py [--mb 40] [--only parse|intake]

Writes one mail per case to a temporary folder (a short complaint text plus an attachment of
--mb MB in that encoding), then, in a fresh interpreter per case (a high-water mark never
goes down), prints two tables.

parse(): the child reads the mail and parses it:
- mail: the size of the mail file;
- baseline: the child's RSS high-water mark with the mail read into memory, before parsing;
- peak: its high-water mark after parse();
- parse cost: peak - baseline, what parse() itself needed;
- traced: the peak of Python allocations during a second parse() under tracemalloc (finer
  than the RSS high-water mark, which cannot show a cost below what reading the mail took);
- what parse() reported (the attachment's name and size, and whether the text survived).

intake: the child is the daemon's intake (bench/ingest.py's measure_intake) on a fresh
SQLite database, and the mail alone in its inbox: a Maildir, then a private Dovecot (IMAP,
fetched in pieces). One pass: fetch, parse, commit with the acknowledgment queued, move.
- start-up: the child's RSS after building the daemon, before the pass;
- peak: its high-water mark after the pass (parse workers, if any, not included: a mail
  this size is parsed in the intake process itself);
- the outcome and whether the mail left the inbox.
Machine: cores and load average, printed first. Asserts nothing.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import json
import os
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.ingest import FIGURES, measure_intake  # noqa: E402

TEXT = "孙经理：江城晚报记者反映小区宽带断网三天，录音见附件，请尽快处理。\n"
FILENAME = "现场录音.bin"


def attachment_bytes(size: int) -> bytes:
    """Binary content: every byte value, NUL, CR and LF included."""
    return (bytes(range(256)) * (size // 256 + 1))[:size]


def line_bytes(size: int) -> bytes:
    """8-bit content in lines (as 8bit requires): ASCII with some GBK, a line end every 70 bytes."""
    line = ("记录2026-11-27 " + "x" * 40).encode("gbk")[:69] + b"\n"
    return (line * (size // len(line) + 1))[:size]


def _base64_76(data: bytes) -> bytes:
    return base64.encodebytes(data).replace(b"\n", b"\r\n")


def _base64_one_line(data: bytes) -> bytes:
    return base64.b64encode(data) + b"\r\n"


def _quoted_printable(data: bytes) -> bytes:
    return binascii.b2a_qp(data).replace(b"\n", b"\r\n")


CASES = {
    # name: (Content-Transfer-Encoding, content maker, encoder)
    "base64, 76 columns": ("base64", attachment_bytes, _base64_76),
    "base64, one line": ("base64", attachment_bytes, _base64_one_line),
    "binary": ("binary", attachment_bytes, lambda data: data),
    "quoted-printable": ("quoted-printable", line_bytes, _quoted_printable),
    "8bit": ("8bit", line_bytes, lambda data: data),
}


def complaint_with(cte: str, body: bytes) -> bytes:
    head = (
        "From: =?utf-8?b?5a2Z5piO?= <sun@corp.example.com>\r\n"
        "To: complaints@corp.example.com\r\n"
        "Subject: =?utf-8?b?546w5Zy65b2V6Z+z?=\r\n"
        "Date: Fri, 27 Nov 2026 10:00:00 +0800\r\n"
        "Message-ID: <bench-memory@corp.example.com>\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/mixed; boundary="bench-boundary"\r\n\r\n'
        "--bench-boundary\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        "Content-Transfer-Encoding: base64\r\n\r\n"
    ).encode("ascii")
    text = base64.encodebytes(TEXT.encode("utf-8")).replace(b"\n", b"\r\n")
    part = (
        "\r\n--bench-boundary\r\n"
        "Content-Type: application/octet-stream\r\n"
        f"Content-Disposition: attachment; filename*=utf-8''{_percent(FILENAME)}\r\n"
        f"Content-Transfer-Encoding: {cte}\r\n\r\n"
    ).encode("ascii")
    return head + text + part + body + b"\r\n--bench-boundary--\r\n"


def _percent(name: str) -> str:
    return "".join(f"%{b:02X}" for b in name.encode("utf-8"))


def peak_rss_mb() -> float:
    """This process's own high-water mark (VmHWM), in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def measure(path: str) -> dict[str, object]:
    """Child: read the mail, note the high-water mark, parse, note it again."""
    from zoneinfo import ZoneInfo

    from parsers import parse
    from parsers.message import ParseContext

    ctx = ParseContext(ZoneInfo("Asia/Shanghai"), "MT", frozenset({"complaints@corp.example.com"}),
                       "complaintd.corp.example.com")
    raw = Path(path).read_bytes()
    baseline = peak_rss_mb()
    started = time.perf_counter()
    parsed = parse(raw, ctx)
    seconds = time.perf_counter() - started
    peak = peak_rss_mb()
    tracemalloc.start()
    parse(raw, ctx)
    traced = tracemalloc.get_traced_memory()[1] / 1024 / 1024
    tracemalloc.stop()
    return {
        "baseline_mb": baseline,
        "peak_mb": peak,
        "traced_mb": traced,
        "seconds": seconds,
        "kind": parsed.kind.value,
        "attachments": [(a.filename, a.size) for a in parsed.attachments],
        "text_ok": TEXT.strip() in parsed.text,
        "problems": list(parsed.problems),
    }


def child(*args: str) -> dict[str, object]:
    done = subprocess.run([sys.executable, __file__, "--child", *args], capture_output=True, text=True, cwd=ROOT)
    if done.returncode != 0:
        sys.exit(f"child {args} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def parse_table(mails: dict[str, Path]) -> None:
    print("parse(), in a fresh process per case")
    print(f"{'encoding':<20} {'mail MB':>8} {'baseline':>9} {'peak':>8} {'parse cost':>11} {'traced':>8} {'seconds':>8}"
          "  result")
    for name, path in mails.items():
        mail_mb = path.stat().st_size / 1024 / 1024
        r = child("parse", str(path))
        cost = float(r["peak_mb"]) - float(r["baseline_mb"])  # type: ignore[arg-type]
        files = ", ".join(f"{n} {s / 1024 / 1024:.1f} MB" for n, s in r["attachments"])  # type: ignore[union-attr]
        text = "text intact" if r["text_ok"] else "TEXT LOST"
        print(f"{name:<20} {mail_mb:>8.1f} {r['baseline_mb']:>6.0f} MB {r['peak_mb']:>5.0f} MB "
              f"{cost:>8.0f} MB {r['traced_mb']:>5.1f} MB {r['seconds']:>8.2f}  {r['kind']}: "
              f"{files or 'no attachment'}; {text}"
              + (f"; problems: {r['problems']}" if r["problems"] else ""))


def intake_table(mails: dict[str, Path], tmp: Path) -> None:
    """Each mail alone through the intake, from a Maildir and from Dovecot, a fresh process each."""
    from tests.support.dovecot import Dovecot
    from tests.support.mail import server_config

    print("intake (fetch → parse → commit → moved) into SQLite, in a fresh process per case")
    print(f"{'encoding':<20} {'source':<8} {'mail MB':>8} {'start-up':>9} {'peak':>8} {'seconds':>8}  outcome")
    with Dovecot() as dovecot:
        os.environ["COMPLAINTD_IMAP_PASSWORD"] = dovecot.password
        for n, (name, path) in enumerate(mails.items()):
            for source in ("maildir", "imap"):
                run = tmp / f"run-{n}-{source}"
                run.mkdir()
                if source == "maildir":
                    inbox = run / "inbox"
                    for sub in ("new", "cur", "tmp"):
                        (inbox / sub).mkdir(parents=True)
                    os.link(path, inbox / "new" / path.name)  # as a delivery agent leaves it
                    url = f"maildir:{inbox}"
                else:
                    dovecot.append(path.read_bytes())
                    url = dovecot.url()
                config = server_config(run, inbound=url, outbound=f"maildir:{run}/sent")
                r = child("intake", str(config))
                left = dovecot.count("INBOX") if source == "imap" else len(list((inbox / "new").iterdir()))
                statuses = ", ".join(f"{k} {v:.0f}" for k, v in r.items() if k not in FIGURES)
                print(f"{name:<20} {source:<8} {path.stat().st_size / 1024 / 1024:>8.1f} {r['rss_start_mb']:>6.0f} MB "
                      f"{r['peak_rss_mb']:>5.0f} MB {r['seconds']:>8.2f}  {statuses}; left in the inbox: {left}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=40, help="attachment size in MB (default 40)")
    parser.add_argument("--only", choices=("parse", "intake"), help="one of the two tables")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        mode, arg = args.child
        print(json.dumps(measure(arg) if mode == "parse" else measure_intake(arg)))
        return
    size = args.mb * 1024 * 1024
    print(f"machine: {os.cpu_count()} cores, load average {machine_load()}")
    print(f"a complaint with one {args.mb} MB attachment ({size} bytes) in each transfer encoding")
    with tempfile.TemporaryDirectory() as tmp:
        mails = {}
        for n, (name, (cte, make, encode)) in enumerate(CASES.items()):
            mails[name] = Path(tmp) / f"{n}.eml"
            mails[name].write_bytes(complaint_with(cte, encode(make(size))))
        if args.only != "intake":
            parse_table(mails)
        if args.only != "parse":
            intake_table(mails, Path(tmp))
    print(f"load average after: {machine_load()}")


def machine_load() -> str:
    return " / ".join(f"{x:.2f}" for x in os.getloadavg()) + " (1, 5, 15 min)"


if __name__ == "__main__":
    main()
