"""The command line as the README and SPEC §6 write it: `complaintd -c CONFIG COMMAND` and
`complaintd COMMAND -c CONFIG` both use CONFIG, run as real processes from a folder whose own
config.toml (also named by $COMPLAINTD_CONFIG) is a decoy that must not be used."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.mail import ROOT, set_keys

pytestmark = pytest.mark.integration

# Where -c goes: before the command word (the README's form) or after it.
ORDERS: dict[str, Callable[[str, list[str]], list[str]]] = {
    "c-before-command": lambda config, command: ["-c", config, *command],
    "c-after-command": lambda config, command: [*command, "-c", config],
}
DECOYS = {
    "broken": "[daemon\n",  # not TOML: any command that reads it fails
    "other-database": None,  # valid, but its register is its own var/ folder
}


def complaintd(cwd: Path, args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([sys.executable, "-m", "daemon", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=120, env={**os.environ, **env, "PYTHONPATH": str(ROOT)})
    assert "Traceback" not in done.stderr, done.stderr
    return done


@pytest.fixture
def site(tmp_path: Path) -> Path:
    """The config to use: the shipped one in a folder of its own (its register in its var/)."""
    folder = tmp_path / "site"
    folder.mkdir()
    shutil.copy(ROOT / "config.toml", folder / "config.toml")
    set_keys(folder / "config.toml", "reports", digest_at="off")
    for sub in ("new", "cur", "tmp"):
        (folder / "var/mail/complaints" / sub).mkdir(parents=True)
    return folder / "config.toml"


@pytest.fixture(params=list(DECOYS))
def elsewhere(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    """The working folder: its config.toml is the decoy, and $COMPLAINTD_CONFIG names it too."""
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    text = DECOYS[request.param]
    (folder / "config.toml").write_text(text if text is not None else (ROOT / "config.toml").read_text(
        encoding="utf-8"), encoding="utf-8")
    return folder


def run_from(elsewhere: Path, args: list[str]) -> subprocess.CompletedProcess[str]:
    return complaintd(elsewhere, args, {"COMPLAINTD_CONFIG": str(elsewhere / "config.toml")})


def cases_in(config: Path) -> list[str]:
    """The case ids in the register beside `config`, read without complaintd."""
    database = config.parent / "var/complaintd.sqlite3"
    if not database.exists():
        return []
    with sqlite3.connect(database) as conn:
        return [row[0] for row in conn.execute("SELECT id FROM cases")]


def nothing_made_in(elsewhere: Path) -> bool:
    return sorted(p.name for p in elsewhere.iterdir()) == ["config.toml"]


@pytest.mark.parametrize("order", list(ORDERS))
def test_check_validates_the_file_given_by_c(site: Path, elsewhere: Path, order: str) -> None:
    done = run_from(elsewhere, ORDERS[order](str(site), ["check"]))
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"{site}: OK")


@pytest.mark.parametrize("order", list(ORDERS))
def test_cases_lists_the_register_of_the_file_given_by_c(site: Path, elsewhere: Path, order: str) -> None:
    ingest = run_from(elsewhere, ["ingest", str(ROOT / "examples/outlook-forward.eml"), "-c", str(site)])
    assert ingest.returncode == 0, ingest.stderr
    [case_id] = cases_in(site)

    done = run_from(elsewhere, ORDERS[order](str(site), ["cases", "--status", "all", "--json"]))
    assert done.returncode == 0, done.stderr
    assert [c["id"] for c in json.loads(done.stdout)] == [case_id]
    assert nothing_made_in(elsewhere)


@pytest.mark.parametrize("order", list(ORDERS))
def test_run_once_takes_the_inbox_and_database_of_the_file_given_by_c(site: Path, elsewhere: Path,
                                                                      order: str) -> None:
    inbox = site.parent / "var/mail/complaints"
    shutil.copy(ROOT / "examples/outlook-forward.eml", inbox / "new/outlook-forward.eml")

    done = run_from(elsewhere, ORDERS[order](str(site), ["run", "--once"]))
    assert done.returncode == 0, done.stderr
    assert len(cases_in(site)) == 1
    assert not list((inbox / "new").iterdir())
    assert nothing_made_in(elsewhere)


def test_verbose_before_the_command_word_logs_debug_lines(site: Path, elsewhere: Path) -> None:
    """-v before `run`: the schema creation on a fresh database is told at DEBUG level."""
    quiet = run_from(elsewhere, ["-c", str(site), "run", "--once"])
    assert quiet.returncode == 0, quiet.stderr
    assert " DEBUG " not in quiet.stderr
    (site.parent / "var/complaintd.sqlite3").unlink()

    verbose = run_from(elsewhere, ["-c", str(site), "-v", "run", "--once"])
    assert verbose.returncode == 0, verbose.stderr
    assert " DEBUG " in verbose.stderr


def test_log_format_json_before_the_command_word_writes_json_lines(site: Path, elsewhere: Path) -> None:
    done = run_from(elsewhere, ["--log-format", "json", "-c", str(site), "run", "--once"])
    assert done.returncode == 0, done.stderr
    lines = done.stderr.splitlines()
    assert lines and all(json.loads(line)["level"] for line in lines)
    assert any(json.loads(line)["message"] == "this replica is now active" for line in lines)
