"""A real, private Dovecot IMAP server for tests and bench scripts.

    with Dovecot() as server:
        server.append(raw)
        url = server.url()            # "imap://complaints@127.0.0.1:PORT/INBOX"
        ...

It runs as root (as the tests and CI do) with `dovecot -F -c CONF`, stores mail as `mail:mail`
under its own temporary directory, and listens on 127.0.0.1 at a free port picked beforehand,
plaintext only (ssl = no, so it offers no STARTTLS). One user: complaints / secret.

`Dovecot(tls=make_tls_files(dir))` instead enables TLS: STARTTLS on `port` and implicit TLS
(imaps) on `tls_port`, with a certificate for 127.0.0.1 signed by the throwaway CA.

`Dovecot(oauth2_tokeninfo_url="http://127.0.0.1:PORT/tokeninfo?access_token=")` also offers
AUTHENTICATE XOAUTH2 / OAUTHBEARER, as Exchange Online does: Dovecot appends the token to that
URL and accepts it when the JSON answer names the user in "username" (serve it from the test).
The password still works for PLAIN/LOGIN, so the helpers below keep working.

Debian 12 ships Dovecot 2.3 (tested); Debian 13 ships 2.4, whose configuration syntax differs
(written from the 2.4 upgrade notes, not yet run here).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Sequence
from datetime import datetime
from types import TracebackType
from typing import Self

from imapclient import IMAPClient

from tests.support.tls import TlsFiles

_NOT_INSTALLED = "Dovecot is not installed: apt-get install dovecot-imapd (or run .ci/run)"

_CONF_23 = """\
# Private test instance (Dovecot 2.3), written by tests/support/dovecot.py
protocols = imap
listen = 127.0.0.1
base_dir = {root}/run
state_dir = {root}/state
instance_name = {instance}
log_path = {root}/log/dovecot.log
info_log_path = {root}/log/dovecot.log
{ssl}
disable_plaintext_auth = no
auth_mechanisms = {mechanisms}
mail_uid = mail
mail_gid = mail
first_valid_uid = 8
first_valid_gid = 8
mail_location = maildir:{root}/mail/%u
mail_max_userip_connections = 500
auth_failure_delay = 0
login_trusted_networks = 127.0.0.0/8
{passdb}
userdb {{
  driver = static
  args = uid=mail gid=mail home={root}/home/%u
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    {imaps}
  }}
}}
"""

# The oauth2 passdb answers XOAUTH2/OAUTHBEARER only; the static one PLAIN/LOGIN only (else a
# token equal to the password would pass).
_PASSDB_23 = """\
passdb {{
  driver = static
  args = password={password}
}}"""

_PASSDB_23_OAUTH2 = """\
passdb {{
  driver = oauth2
  mechanisms = xoauth2 oauthbearer
  args = {oauth2_conf}
}}
passdb {{
  driver = static
  mechanisms = plain login
  args = password={password}
}}"""

_OAUTH2_CONF_23 = """\
tokeninfo_url = {url}
username_attribute = username
timeout_msecs = 10000
"""

# 2.4: the mechanism validates tokens itself (no passdb); written from the 2.4 docs, not yet run.
_OAUTH2_24 = """\
oauth2 {{
  tokeninfo_url = {url}
  introspection_mode = get
  introspection_url = {url}
  username_attribute = username
}}"""

_CONF_24 = """\
dovecot_config_version = {version}
dovecot_storage_version = {version}
# Private test instance (Dovecot 2.4), written by tests/support/dovecot.py
protocols = imap
listen = 127.0.0.1
base_dir = {root}/run
state_dir = {root}/state
instance_name = {instance}
log_path = {root}/log/dovecot.log
info_log_path = {root}/log/dovecot.log
{ssl}
auth_allow_cleartext = yes
auth_mechanisms = {mechanisms}
mail_uid = mail
mail_gid = mail
first_valid_uid = 8
first_valid_gid = 8
mail_driver = maildir
mail_path = {root}/mail/%{{user}}
mail_home = {root}/home/%{{user}}
mail_max_userip_connections = 500
passdb static {{
  password = {password}
}}
{oauth2}
userdb static {{
  fields {{
    uid = mail
    gid = mail
    home = {root}/home/%{{user}}
  }}
}}
service imap-login {{
  inet_listener imap {{
    listen = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    {imaps}
  }}
}}
"""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def dovecot_version(binary: str) -> str:
    out = subprocess.run([binary, "--version"], capture_output=True, text=True, check=True).stdout
    return out.split()[0]  # "2.3.19.1 (9b53102964)" → "2.3.19.1"


class Dovecot:
    """A private Dovecot; see the module docstring."""

    user = "complaints"
    password = "secret"

    def __init__(self, *, tls: TlsFiles | None = None, oauth2_tokeninfo_url: str | None = None) -> None:
        self.tls = tls
        self.oauth2_tokeninfo_url = oauth2_tokeninfo_url
        self.tls_port = 0  # imaps, when tls is set
        binary = shutil.which("dovecot") or next(
            (p for p in ("/usr/sbin/dovecot", "/usr/local/sbin/dovecot") if os.path.exists(p)), None
        )
        if binary is None:
            raise RuntimeError(_NOT_INSTALLED)
        if os.geteuid() != 0:
            raise RuntimeError("tests/support/dovecot.py starts Dovecot as root (mail_uid = mail); run as root")
        self.binary = binary
        self.version = dovecot_version(binary)
        self.host = "127.0.0.1"
        self.port = 0
        self.root = ""
        self.conf = ""
        self._proc: subprocess.Popen[bytes] | None = None

    # -- lifecycle -------------------------------------------------------------------------

    def start(self, timeout: float = 15.0) -> None:
        if self._proc is not None:
            raise RuntimeError("Dovecot is already running")
        if not self.root:
            self._prepare()
        with open(os.path.join(self.root, "log", "stderr.log"), "ab") as stderr:
            self._proc = subprocess.Popen(
                [self.binary, "-F", "-c", self.conf], stdin=subprocess.DEVNULL, stdout=stderr, stderr=stderr
            )
        atexit.register(self.stop)
        self._wait_until_listening(timeout)

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        atexit.unregister(self.stop)
        # SIGTERM to the master we started is what `dovecot -c CONF stop` sends, without its
        # polling (3 s instead of 1 s). The master leaves imap processes with open client
        # connections (and log/stats) running, so end those too: a stop must cut connections.
        children = _descendants(proc.pid)
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        _end(children, self._instance)

    def restart(self) -> None:
        """Stop and start again on the same port and mail store (connections are cut)."""
        self.stop()
        self.start()

    def close(self) -> None:
        """Stop and remove the temporary directory."""
        self.stop()
        if self.root:
            shutil.rmtree(self.root, ignore_errors=True)
            self.root = ""

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    @property
    def _instance(self) -> str:
        """instance_name: the children's process titles read "dovecot-<it>/imap" etc."""
        return f"complaintd-test-{self.port}"

    def url(self, folder: str = "INBOX") -> str:
        return f"imap://{self.user}@{self.host}:{self.port}/{folder}"

    def imaps_url(self, folder: str = "INBOX") -> str:
        return f"imaps://{self.user}@{self.host}:{self.tls_port}/{folder}"

    # -- helpers for tests (each opens its own connection, so they are thread-safe) --------

    def client(self) -> IMAPClient:
        """A logged-in IMAPClient; the caller logs out (use it in a `with`)."""
        client = IMAPClient(self.host, port=self.port, ssl=False, use_uid=True, timeout=30)
        client.login(self.user, self.password)
        return client

    def append(self, raw: bytes, folder: str = "INBOX", flags: Sequence[bytes] = (),
               internaldate: datetime | None = None) -> None:
        """APPEND `raw`; `internaldate` (aware) is when the server says it arrived, as if it
        had waited in the mailbox since then (default: now, as for a delivery)."""
        if internaldate is not None and internaldate.tzinfo is None:
            raise ValueError("internaldate must be aware: a naive one would be read as local time")
        with self.client() as c:
            if not c.folder_exists(folder):
                c.create_folder(folder)
            c.append(folder, raw, flags=flags, msg_time=internaldate)

    def messages(self, folder: str = "INBOX") -> list[bytes]:
        """Every message in `folder` in UID order (read with BODY.PEEK[]); [] if no folder."""
        with self.client() as c:
            if not c.folder_exists(folder):
                return []
            c.select_folder(folder, readonly=True)
            uids = sorted(c.search(["ALL"]))
            found = c.fetch(uids, ["BODY.PEEK[]"]) if uids else {}
            return [found[uid][b"BODY[]"] for uid in uids]

    def flags(self, folder: str = "INBOX") -> list[tuple[bytes, ...]]:
        """The flags of each message in `folder`, in UID order."""
        with self.client() as c:
            c.select_folder(folder, readonly=True)
            uids = sorted(c.search(["ALL"]))
            found = c.get_flags(uids) if uids else {}
            return [tuple(found[uid]) for uid in uids]

    def count(self, folder: str = "INBOX") -> int:
        with self.client() as c:
            if not c.folder_exists(folder):
                return 0
            return int(c.folder_status(folder, ["MESSAGES"])[b"MESSAGES"])

    def folders(self) -> list[str]:
        with self.client() as c:
            return [name for _flags, _delim, name in c.list_folders()]

    def reset(self) -> None:
        """Empty INBOX and delete every other folder (cheap; between tests)."""
        with self.client() as c:
            for _flags, _delim, name in sorted(c.list_folders(), key=lambda f: f[2], reverse=True):
                if name.upper() != "INBOX":
                    c.delete_folder(name)
            c.select_folder("INBOX")
            uids = c.search(["ALL"])
            if uids:
                c.delete_messages(uids, silent=True)
                c.uid_expunge(uids)
            c.unselect_folder()

    # -- internals -------------------------------------------------------------------------

    def _prepare(self) -> None:
        """Temporary directory (readable by Dovecot's unprivileged users), port, config."""
        self.root = tempfile.mkdtemp(prefix="complaintd-dovecot-")
        os.chmod(self.root, 0o755)  # mkdtemp gives 0700; login/auth/imap processes must enter
        mail = pwd.getpwnam("mail")
        for sub in ("log", "state"):
            os.makedirs(os.path.join(self.root, sub))
        for sub in ("mail", "home"):
            path = os.path.join(self.root, sub)
            os.makedirs(path, mode=0o700)
            os.chown(path, mail.pw_uid, mail.pw_gid)
        self.port = free_port()
        v24 = _major_minor(self.version) >= (2, 4)
        template = _CONF_24 if v24 else _CONF_23
        ssl, imaps = "ssl = no", "port = 0"
        if self.tls is not None:
            self.tls_port = free_port()
            if v24:
                ssl = f"ssl = yes\nssl_server_cert_file = {self.tls.cert}\nssl_server_key_file = {self.tls.key}"
                imaps = f"listen = 127.0.0.1\n    port = {self.tls_port}\n    ssl = yes"
            else:
                ssl = f"ssl = yes\nssl_cert = <{self.tls.cert}\nssl_key = <{self.tls.key}"
                imaps = f"address = 127.0.0.1\n    port = {self.tls_port}\n    ssl = yes"
        version = ".".join(self.version.split(".")[:3])
        self.conf = os.path.join(self.root, "dovecot.conf")
        with open(self.conf, "w") as f:
            f.write(
                template.format(
                    root=self.root, port=self.port, instance=self._instance, password=self.password,
                    version=version, ssl=ssl, imaps=imaps, **self._auth_settings(v24),
                )
            )

    def _auth_settings(self, v24: bool) -> dict[str, str]:
        """auth_mechanisms and the passdb(s): PLAIN/LOGIN with the password, and with
        oauth2_tokeninfo_url also XOAUTH2/OAUTHBEARER checked against that URL."""
        url = self.oauth2_tokeninfo_url
        passdb = _PASSDB_23.format(password=self.password)
        if url is None:
            return {"mechanisms": "plain login", "passdb": passdb, "oauth2": ""}
        if v24:
            return {"mechanisms": "plain login xoauth2 oauthbearer", "passdb": passdb,
                    "oauth2": _OAUTH2_24.format(url=url)}
        oauth2_conf = os.path.join(self.root, "dovecot-oauth2.conf.ext")
        with open(oauth2_conf, "w") as f:
            f.write(_OAUTH2_CONF_23.format(url=url))
        return {"mechanisms": "plain login xoauth2 oauthbearer", "oauth2": "",
                "passdb": _PASSDB_23_OAUTH2.format(oauth2_conf=oauth2_conf, password=self.password)}

    def _wait_until_listening(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self._proc is not None
            if self._proc.poll() is not None:
                self._proc = None
                atexit.unregister(self.stop)
                raise RuntimeError(f"Dovecot exited at start-up:\n{self._logs()}")
            try:
                with socket.create_connection((self.host, self.port), timeout=1) as s:
                    if s.recv(64).startswith(b"* OK"):
                        return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"Dovecot did not listen on {self.host}:{self.port} within {timeout}s:\n{self._logs()}")

    def _logs(self) -> str:
        parts = []
        for name in ("stderr.log", "dovecot.log"):
            path = os.path.join(self.root, "log", name)
            if os.path.exists(path):
                with open(path, errors="replace") as f:
                    parts.append(f.read()[-4000:])
        return "\n".join(parts)


def _descendants(pid: int) -> list[int]:
    """The processes below `pid` (read from /proc)."""
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        parents.setdefault(ppid, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _end(pids: list[int], name: str, timeout: float = 5.0) -> None:
    """SIGTERM these processes (started by our Dovecot master; checked by `name` in their
    command line, against pid reuse), SIGKILL what lingers."""
    pids = [p for p in pids if _cmdline_has(p, name)]
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while (alive := [p for p in pids if _alive(p)]) and time.monotonic() < deadline:
        time.sleep(0.02)
    for pid in alive:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _cmdline_has(pid: int, name: str) -> bool:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return name.encode() in f.read()
    except OSError:
        return False


def _alive(pid: int) -> bool:
    """True while `pid` runs (a zombie re-parented to init does not count)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _major_minor(version: str) -> tuple[int, int]:
    major, minor = version.split(".")[:2]
    return int(major), int(minor)
