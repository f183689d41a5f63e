"""Where an XOAUTH2 access token comes from (`auth = "xoauth2"` in [inbound] / [outbound]).

Exchange Online and similar servers take an OAuth2 access token instead of a password. The
token is short-lived (about an hour), so it is asked for at every login, not once at start:

    token_env = "VAR"           the token is in that environment variable (read at start-up,
                                like password_env; fine for a token another process renews by
                                restarting the daemon)
    token_command = "…"         a shell command that prints the token; run at every login, so a
                                reconnect gets a fresh one

A command that fails, times out or prints nothing raises TokenError; the mail adapters turn it
into their usual connection failure (SourceError / a TEMPORARY send result), so the normal
retry and backoff apply.
"""

from __future__ import annotations

import os
import signal
import subprocess
from dataclasses import dataclass, field

from daemon.errors import ComplaintdError

TOKEN_COMMAND_TIMEOUT = 30.0  # seconds


class TokenError(ComplaintdError):
    """No access token could be had: the command failed, timed out or printed nothing."""


@dataclass(frozen=True)
class TokenSource:
    """One of: `env_var` with the `value` it held at start-up, or a shell `command`."""

    env_var: str = ""
    command: str = ""
    value: str = field(default="", repr=False)  # a secret: never in a repr or a log line
    timeout: float = TOKEN_COMMAND_TIMEOUT

    @classmethod
    def from_env(cls, name: str, value: str) -> TokenSource:
        return cls(env_var=name, value=value)

    @classmethod
    def from_command(cls, command: str, timeout: float = TOKEN_COMMAND_TIMEOUT) -> TokenSource:
        return cls(command=command, timeout=timeout)

    def describe(self) -> str:
        """Where the token comes from, for log lines (never the token itself)."""
        return f"token_command {self.command!r}" if self.command else f"token_env {self.env_var}"

    def token(self) -> str:
        """The access token now: the variable's value, or the command's stdout, stripped."""
        if not self.command:
            if not self.value.strip():
                raise TokenError(f"the environment variable {self.env_var} is empty")
            return self.value.strip()
        return _run(self.command, self.timeout)


def _run(command: str, timeout: float) -> str:
    """Run `command` with /bin/sh; its stdout, stripped. Its own process group, so a timeout
    ends the command and anything it started (a child holding the pipe would block us)."""
    try:
        proc = subprocess.Popen(
            command, shell=True, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, start_new_session=True,
        )
    except OSError as exc:
        raise TokenError(f"token_command cannot be started: {exc}") from exc
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        raise TokenError(f"token_command did not finish within {timeout:g} s") from None
    if proc.returncode != 0:
        raise TokenError(f"token_command exited with status {proc.returncode}{_last_line(err)}")
    token = out.decode("utf-8", errors="replace").strip()
    if not token:
        raise TokenError("token_command printed nothing")
    return token


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.communicate()


def _last_line(err: bytes) -> str:
    """": <the last line it wrote to stderr>", shortened; "" when it wrote nothing."""
    lines = err.decode("utf-8", errors="replace").strip().splitlines()
    return f": {lines[-1][:200]}" if lines else ""
