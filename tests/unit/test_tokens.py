"""TokenSource: where an XOAUTH2 access token comes from (daemon/tokens.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from daemon.tokens import TokenError, TokenSource


def test_token_env_gives_the_value_stripped_and_never_shows_it() -> None:
    """The variable's value is the token; repr names the variable, not the secret."""
    source = TokenSource.from_env("COMPLAINTD_IMAP_TOKEN", " s3cret-token\n")
    assert source.token() == "s3cret-token"
    assert "s3cret" not in repr(source) and "s3cret" not in source.describe()
    assert "COMPLAINTD_IMAP_TOKEN" in source.describe()


def test_token_command_output_is_stripped_and_the_command_runs_at_each_call(tmp_path: Path) -> None:
    """Each token() runs the command again, so a renewed token is picked up."""
    file = tmp_path / "token"
    source = TokenSource.from_command(f"cat {file}")
    file.write_text("first\n")
    assert source.token() == "first"
    file.write_text("second\n")
    assert source.token() == "second"


@pytest.mark.parametrize("command, message", [
    ("echo 'login expired' >&2; exit 2", "token_command exited with status 2: login expired"),
    ("true", "token_command printed nothing"),
    ("no-such-command-xyz", "token_command exited with status 127"),
])
def test_a_failing_command_raises_token_error_naming_why(command: str, message: str) -> None:
    """Non-zero exit (with its last stderr line), or no output: TokenError, not a token."""
    with pytest.raises(TokenError, match=message):
        TokenSource.from_command(command).token()


@pytest.mark.timeout(15)  # the hang guard: without the kill, the children hold stdout for 30 s
def test_a_hanging_command_is_ended_at_its_timeout_with_its_children() -> None:
    """A command (and a child holding its stdout) that hangs is killed after the timeout."""
    source = TokenSource.from_command("sleep 30 & sleep 30; echo late", timeout=0.5)
    with pytest.raises(TokenError, match=r"did not finish within 0\.5 s"):
        source.token()
