"""Peak memory of parse() on a complaint carrying one large attachment, per transfer encoding.

    .venv/bin/python bench/memory.py [--mb 40]

Writes one mail per case to a temporary folder (a short complaint text plus an attachment of
--mb MB in that encoding), then parses each in a fresh interpreter and prints:
- mail: the size of the mail file;
- baseline: the child's RSS high-water mark with the mail read into memory, before parsing;
- peak: its high-water mark after parse();
- parse cost: peak - baseline, what parse() itself needed;
- traced: the peak of Python allocations during a second parse() under tracemalloc (finer
  than the RSS high-water mark, which cannot show a cost below what reading the mail took);
- what parse() reported (the attachment's name and size, and whether the text survived).
A fresh process per case, because a high-water mark never goes down. Asserts nothing.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import json
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

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


def child(path: Path) -> dict[str, object]:
    done = subprocess.run([sys.executable, __file__, "--child", str(path)], capture_output=True, text=True, cwd=ROOT)
    if done.returncode != 0:
        sys.exit(f"child failed on {path.name}:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=40, help="attachment size in MB (default 40)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.child)))
        return
    size = args.mb * 1024 * 1024
    print(f"parse() of a complaint with one {args.mb} MB attachment ({size} bytes), one fresh process per case")
    print(f"{'encoding':<20} {'mail MB':>8} {'baseline':>9} {'peak':>8} {'parse cost':>11} {'traced':>8} {'seconds':>8}"
          "  result")
    with tempfile.TemporaryDirectory() as tmp:
        for name, (cte, make, encode) in CASES.items():
            path = Path(tmp) / "mail.eml"
            path.write_bytes(complaint_with(cte, encode(make(size))))
            mail_mb = path.stat().st_size / 1024 / 1024
            r = child(path)
            cost = float(r["peak_mb"]) - float(r["baseline_mb"])  # type: ignore[arg-type]
            files = ", ".join(f"{n} {s / 1024 / 1024:.1f} MB" for n, s in r["attachments"])  # type: ignore[union-attr]
            text = "text intact" if r["text_ok"] else "TEXT LOST"
            print(f"{name:<20} {mail_mb:>8.1f} {r['baseline_mb']:>6.0f} MB {r['peak_mb']:>5.0f} MB "
                  f"{cost:>8.0f} MB {r['traced_mb']:>5.1f} MB {r['seconds']:>8.2f}  {r['kind']}: "
                  f"{files or 'no attachment'}; {text}"
                  + (f"; problems: {r['problems']}" if r["problems"] else ""))


if __name__ == "__main__":
    main()
