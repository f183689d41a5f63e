"""config.toml validation: every problem named by key, at start-up (SPEC §8)."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from daemon.config import load_settings, parse_duration
from daemon.errors import ConfigError
from models.types import DeadlineKind
from tests.support.mail import set_keys

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "config.toml"

FIVE_MISTAKES = '''
[daemon]
timezone = "Asia/Shanghai"
tick = "1 sec"

[inbound]
url = "maildir:var/in"
procesed_folder = "Done"

[outbound]
url = "maildir:var/out"
from = "媒体投诉处理 <complaints@corp.example.com>"

[general_dept]
members = ["zonghe@corp.example.com"]
interface_a = { name = "刘洋", email = "liu.gd@corp.example.com" }

[leaders]
company = { name = "赵总", email = "zhao.ceo@corp.example.com" }

[[departments]]
id = "network"
name = "网络部"
members = ["sun@corp.example.com"]
interface_a = { name = "张伟", email = "zhang.net(at)corp.example.com" }

[[departments]]
id = "network"
name = "市场部"
members = ["*@mkt.corp.example.com"]
'''


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def problems(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_settings(write(tmp_path, text), env={})
    return caught.value.problems


def test_shipped_config_is_valid_and_works_without_a_server() -> None:
    """The config.toml in the repo loads, on Maildir and SQLite, with the SPEC's defaults."""
    settings = load_settings(SHIPPED, env={})
    assert settings.inbound.url.scheme == "maildir"
    assert settings.outbound.url.scheme == "maildir"
    assert settings.daemon.database.startswith("sqlite:///")
    assert settings.deadlines[DeadlineKind.GENERAL_DEPT] == timedelta(hours=1)
    assert settings.directory.department_of("sun@corp.example.com").name == "网络部"
    assert settings.directory.department_of("anyone@net.corp.example.com").name == "网络部"


def test_five_distinct_mistakes_are_five_problems_named_by_key(tmp_path: Path) -> None:
    """A bad duration, an unknown key, a bad address, a missing A contact and a duplicate id
    are all reported at once, one line each."""
    found = problems(tmp_path, FIVE_MISTAKES)
    keys = [p.split(":", 1)[0] for p in found]
    assert keys == ["daemon.tick", "inbound.procesed_folder", "departments[0].interface_a.email",
                    "departments[1].interface_a", "departments[1].id"]
    assert "did you mean processed_folder?" in found[1]


def test_an_address_claimed_by_two_departments_is_refused(tmp_path: Path) -> None:
    """sun@ listed as staff of two departments: whose case would it be? The config says no."""
    text = SHIPPED.read_text(encoding="utf-8").replace(
        'members = ["*@mkt.corp.example.com"]', 'members = ["*@mkt.corp.example.com", "sun@corp.example.com"]')
    found = problems(tmp_path, text)
    assert found == ["departments[1].members: sun@corp.example.com is also claimed by departments[0]"]


def test_missing_company_leader_is_refused(tmp_path: Path) -> None:
    """No 公司主管领导: the chain has no top, so the config is refused."""
    text = FIVE_MISTAKES.split("[leaders]")[0].replace('tick = "1 sec"', "").replace(
        "procesed_folder", "processed_folder")
    found = problems(tmp_path, text)
    assert found == ["leaders.company: missing: the company supervising leader (公司主管领导) is required"]


def test_password_in_url_or_unset_env_is_a_problem(tmp_path: Path) -> None:
    """Secrets live in the environment: a password in the URL or a missing variable is named."""
    text = SHIPPED.read_text(encoding="utf-8").replace(
        'url = "maildir:var/mail/complaints"', 'url = "imaps://box:hunter2@mail.corp.example.com/INBOX"')
    found = problems(tmp_path, text)
    assert any(p.startswith("inbound.url: holds a password") for p in found)
    assert "inbound.password_env: the environment variable COMPLAINTD_IMAP_PASSWORD is not set" in found


def test_imap_url_with_percent_encoded_user_and_env_password(tmp_path: Path) -> None:
    """A user name holding @ is percent-encoded; the password comes from password_env."""
    text = SHIPPED.read_text(encoding="utf-8").replace(
        'url = "maildir:var/mail/complaints"',
        'url = "imaps://complaints%40corp.example.com@mail.corp.example.com/投诉"')
    settings = load_settings(write(tmp_path, text), env={"COMPLAINTD_IMAP_PASSWORD": "s3cret"})
    url = settings.inbound.url
    assert (url.scheme, url.host, url.port, url.username, url.folder) == (
        "imaps", "mail.corp.example.com", 993, "complaints@corp.example.com", "投诉")
    assert settings.inbound.password == "s3cret"


def test_relative_paths_are_resolved_against_the_config_folder(tmp_path: Path) -> None:
    """`var/…` means beside the config file, whatever the working directory."""
    settings = load_settings(write(tmp_path, SHIPPED.read_text(encoding="utf-8")), env={})
    assert settings.inbound.url.path == str(tmp_path / "var/mail/complaints")
    assert settings.daemon.database == f"sqlite:///{tmp_path}/var/complaintd.sqlite3"


@pytest.mark.parametrize("text, expected", [
    ("90s", timedelta(seconds=90)), ("30m", timedelta(minutes=30)), ("1h30m", timedelta(minutes=90)),
    ("2d", timedelta(days=2)), ("1h", timedelta(hours=1)),
    ("", None), ("0s", None), ("1 h", None), ("30", None), ("m30", None),
    ("999999999999d", None),  # more than a timedelta holds: None, not an OverflowError
])
def test_durations(text: str, expected: timedelta | None) -> None:
    """Durations are written like 90s, 30m, 1h30m; zero and other spellings are refused."""
    assert parse_duration(text) == expected


def test_check_command_exits_1_listing_every_problem(tmp_path: Path) -> None:
    """`complaintd check` prints each problem on its own line and exits 1; no traceback."""
    path = write(tmp_path, FIVE_MISTAKES)
    done = subprocess.run([sys.executable, "-m", "daemon", "check", "-c", str(path)],
                          capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 1
    lines = [line for line in done.stderr.splitlines() if line.startswith("  ")]
    assert len(lines) == 5
    assert "5 problems" in done.stderr
    assert "Traceback" not in done.stderr


def test_check_command_accepts_the_shipped_config() -> None:
    """`complaintd check` on the shipped file says OK and exits 0."""
    done = subprocess.run([sys.executable, "-m", "daemon", "check", "-c", str(SHIPPED)],
                          capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert "OK" in done.stdout


# -- auth = "xoauth2" ---------------------------------------------------------------------------

IMAPS = 'url = "imaps://complaints%40corp.example.com@mail.corp.example.com/INBOX"'
SMTP = 'url = "smtp://complaints%40corp.example.com@mail.corp.example.com:587"'


def with_login(inbound: str = "", outbound: str = "") -> str:
    """The shipped config with [inbound] / [outbound] url lines replaced by these lines."""
    text = SHIPPED.read_text(encoding="utf-8")
    if inbound:
        text = text.replace('url = "maildir:var/mail/complaints"', inbound, 1)
    if outbound:
        text = text.replace('url = "maildir:var/mail/sent"', outbound, 1)
    return text


def test_xoauth2_takes_the_token_instead_of_a_password(tmp_path: Path) -> None:
    """token_env is read like password_env, password_env is then not needed, and
    token_command is not run when the config is loaded, only when a token is asked for."""
    marker = tmp_path / "ran"
    text = with_login(
        f'{IMAPS}\nauth = "xoauth2"\ntoken_env = "COMPLAINTD_IMAP_TOKEN"',
        f'{SMTP}\nauth = "xoauth2"\ntoken_command = "touch {marker}; printf %s smtp-token"')
    settings = load_settings(write(tmp_path, text), env={"COMPLAINTD_IMAP_TOKEN": "imap-token"})
    assert (settings.inbound.auth, settings.inbound.password) == ("xoauth2", None)
    assert settings.inbound.token is not None and settings.inbound.token.token() == "imap-token"
    assert settings.outbound.auth == "xoauth2" and settings.outbound.token is not None
    assert not marker.exists()
    assert settings.outbound.token.token() == "smtp-token"
    assert marker.exists()


def test_password_stays_the_default_auth(tmp_path: Path) -> None:
    """Without `auth`, login is by password, and no token source is set."""
    settings = load_settings(write(tmp_path, with_login(IMAPS)), env={"COMPLAINTD_IMAP_PASSWORD": "pw"})
    assert (settings.inbound.auth, settings.inbound.password, settings.inbound.token) == ("password", "pw", None)


@pytest.mark.parametrize("inbound, outbound, env, expected", [
    pytest.param(f'{IMAPS}\nauth = "xoauth2"', "", {},
                 [('inbound.token_env: missing: with auth = "xoauth2" name the environment variable that '
                  "holds the access token, or give token_command instead")], id="no-token-source"),
    pytest.param("", f'{SMTP}\nauth = "xoauth2"\ntoken_env = "T"\ntoken_command = "get-token"', {"T": "t"},
                 ["outbound.token_command: give token_env or token_command, not both"], id="both-token-sources"),
    pytest.param(f'{IMAPS}\nauth = "oauth2"', "", {},
                 ["inbound.auth: 'oauth2' must be \"password\" or \"xoauth2\""], id="unknown-auth"),
    pytest.param('url = "imaps://mail.corp.example.com/INBOX"\nauth = "xoauth2"\ntoken_env = "T"', "", {"T": "t"},
                 [('inbound.username: missing: XOAUTH2 logs in as a user; put it in the url '
                  '(e.g. "imaps://complaints%40corp.example.com@mail.corp.example.com") or in username')],
                 id="no-username"),
    pytest.param(f'{IMAPS}\nauth = "xoauth2"\ntoken_env = "COMPLAINTD_IMAP_TOKEN"', "", {},
                 ["inbound.token_env: the environment variable COMPLAINTD_IMAP_TOKEN is not set"], id="env-unset"),
    pytest.param(f'{IMAPS}\ntoken_command = "get-token"', "", {"COMPLAINTD_IMAP_PASSWORD": "pw"},
                 ['inbound.token_command: only used with auth = "xoauth2"'], id="token-without-xoauth2"),
    pytest.param(f'{IMAPS}\nauth = "xoauth2"\ntoken_cmd = "get-token"', "", {},
                 ["inbound.token_cmd: unknown key (did you mean token_command?)",
                  ('inbound.token_env: missing: with auth = "xoauth2" name the environment variable that '
                  "holds the access token, or give token_command instead")], id="misspelt-key"),
])
def test_xoauth2_problems_are_named_by_key(tmp_path: Path, inbound: str, outbound: str,
                                           env: dict[str, str], expected: list[str]) -> None:
    """Each XOAUTH2 mistake is one problem line naming its key; no token is fetched."""
    with pytest.raises(ConfigError) as caught:
        load_settings(write(tmp_path, with_login(inbound, outbound)), env=env)
    assert caught.value.problems == expected


# -- addresses complaintd can send to ---------------------------------------------------------

def shipped_with(old: str, new: str) -> str:
    """The shipped config.toml with the first `old` replaced by `new`."""
    text = SHIPPED.read_text(encoding="utf-8")
    assert old in text, old
    return text.replace(old, new, 1)


@pytest.mark.parametrize("old, new, key, says", [
    ("zhang.net@corp.example.com", "张伟@corp.example.com", "departments[0].interface_a.email",
     "non-ASCII characters before the @"),
    ("zhang.net@corp.example.com", "zhang@例子.cn", "departments[0].interface_a.email",
     "write its punycode form (xn--fsqu00a.cn)"),
    ("complaints@corp.example.com>", "投诉@corp.example.com>", "outbound.from", "non-ASCII"),
    ('"zonghe@corp.example.com"', '"zonghe@综合.corp.example.com"', "general_dept.members[0]", "punycode"),
    ('"*@mkt.corp.example.com"', '"*@市场.corp.example.com"', "departments[1].members[0]", "punycode"),
    ("emergency@corp.example.com", "emergency@corp", "leaders.major_incident[0].email",
     "not a host name like corp.example.com"),
    ("chen.am@corp.example.com", "chen am@corp.example.com", "media_outlets[0].account_manager_a.email",
     "spaces"),
    ("zhao.ceo@corp.example.com", '\\"zhao\\"@corp.example.com', "leaders.company.email", "quotes"),
    ("qian.media@corp.example.com", "qian\\u001b@corp.example.com", "leaders.media.email", "control characters"),
    ("gd@prov.example.com", "@prov.example.com", "leaders.higher_authority.email", "nothing before the @"),
    ("li.net@corp.example.com", "li..net@corp.example.com", "departments[0].interface_b.email", "twice in a row"),
    ('"jcwb.example.cn"', '"晚报.cn"', "media_outlets[0].domains[0]", "punycode"),
], ids=["chinese-local-part", "chinese-domain", "from", "member", "member-pattern", "no-dot", "space", "quotes",
        "escape", "empty-local-part", "double-dot", "outlet-domain"])
def test_an_address_complaintd_cannot_send_to_is_refused_by_key(tmp_path: Path, old: str, new: str, key: str,
                                                                  says: str) -> None:
    """Every address field takes only what a mail can be built to: a non-ASCII address (which
    formataddr refuses, so every complaint would stay in the inbox), spaces, quotes, controls,
    a domain without a dot. One problem, under the key, saying what is wrong."""
    [found] = problems(tmp_path, shipped_with(old, new))
    assert found.startswith(f"{key}: ")
    assert says in found


def test_check_command_refuses_a_non_ascii_address_suggesting_punycode(tmp_path: Path) -> None:
    """What `check` (and so a start, or a reload on SIGHUP) says about zhang@例子.cn."""
    path = write(tmp_path, shipped_with("zhang.net@corp.example.com", "zhang@例子.cn"))
    done = subprocess.run([sys.executable, "-m", "daemon", "check", "-c", str(path)],
                          capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 1
    assert "departments[0].interface_a.email: 'zhang@例子.cn': the domain '例子.cn' is not ASCII; " \
           "write its punycode form (xn--fsqu00a.cn) instead" in done.stderr
    assert "Traceback" not in done.stderr


# -- durations within bounds ----------------------------------------------------------------

@pytest.mark.parametrize("section, key, value, longest", [
    ("deadlines", "assess", "999999999d", "365d"),  # a due time this far out overflows a datetime
    ("deadlines", "normal_completion", "366d", "365d"),
    ("daemon", "tick", "1h", "5m"),
    ("daemon", "poll_interval", "999999999999d", "15m"),  # more than a timedelta holds
    ("outbound", "give_up_after", "30d", "7d"),
])
def test_a_duration_beyond_its_bound_is_refused_by_key(tmp_path: Path, section: str, key: str, value: str,
                                                       longest: str) -> None:
    path = set_keys(write(tmp_path, SHIPPED.read_text(encoding="utf-8")), section, **{key: value})
    with pytest.raises(ConfigError) as caught:
        load_settings(path, env={})
    assert caught.value.problems == [f"{section}.{key}: '{value}' is too long (at most {longest})"]


def test_the_bounds_themselves_are_accepted(tmp_path: Path) -> None:
    path = write(tmp_path, SHIPPED.read_text(encoding="utf-8"))
    set_keys(path, "deadlines", normal_completion="365d")
    set_keys(path, "daemon", tick="5m", poll_interval="15m")
    settings = load_settings(set_keys(path, "outbound", give_up_after="7d"), env={})
    assert settings.deadlines[DeadlineKind.NORMAL_COMPLETION] == timedelta(days=365)
    assert (settings.daemon.tick, settings.daemon.poll_interval) == (timedelta(minutes=5), timedelta(minutes=15))


# -- [outbound] connections ------------------------------------------------------------------

def test_outbound_connections_default_to_four_and_take_1_to_16(tmp_path: Path) -> None:
    """Left out, four SMTP connections send at once; 1 and 16 are taken as written."""
    without = write(tmp_path, shipped_with("connections = 4", "# connections = 4"))
    assert load_settings(without, env={}).outbound.connections == 4
    for value in (1, 16):
        path = write(tmp_path, shipped_with("connections = 4", f"connections = {value}"))
        assert load_settings(path, env={}).outbound.connections == value


@pytest.mark.parametrize("written, says", [
    ("0", "0 must be a whole number from 1 to 16"),
    ("17", "17 must be a whole number from 1 to 16"),
    ('"4"', "'4' must be a whole number from 1 to 16 (written without quotes)"),
    ("2.5", "2.5 must be a whole number from 1 to 16"),
])
def test_outbound_connections_outside_1_to_16_is_refused_by_key(tmp_path: Path, written: str, says: str) -> None:
    """A connections value that is no whole number of connections a server would allow is one
    problem, under its key."""
    assert problems(tmp_path, shipped_with("connections = 4", f"connections = {written}")) == \
        [f"outbound.connections: {says}"]


def test_check_command_names_an_overflowing_duration_without_a_traceback(tmp_path: Path) -> None:
    path = set_keys(write(tmp_path, SHIPPED.read_text(encoding="utf-8")), "deadlines", assess="999999999999d")
    done = subprocess.run([sys.executable, "-m", "daemon", "check", "-c", str(path)],
                          capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 1
    assert "  deadlines.assess: '999999999999d' is too long (at most 365d)\n" in done.stderr
    assert "Traceback" not in done.stderr


# -- one department per address -----------------------------------------------------------------

MARKETING = 'members = ["*@mkt.corp.example.com"]'  # departments[1] in the shipped file


@pytest.mark.parametrize("members, expected", [
    pytest.param('["*@corp.example.com"]', [
        "departments[1].members: *@corp.example.com overlaps zonghe@corp.example.com of general_dept",
        "departments[1].members: *@corp.example.com overlaps liu.gd@corp.example.com of general_dept",
        "departments[1].members: *@corp.example.com overlaps sun@corp.example.com of departments[0]",
    ], id="pattern-covers-listed-addresses"),
    pytest.param('["*@mkt.corp.example.com", "wang@net.corp.example.com"]', [
        "departments[1].members: wang@net.corp.example.com overlaps *@net.corp.example.com of departments[0]",
    ], id="address-under-another-pattern"),
    pytest.param('["*@net.corp.example.com"]', [
        "departments[1].members: *@net.corp.example.com is also claimed by departments[0]",
    ], id="same-pattern-twice"),
])
def test_a_pattern_overlapping_another_departments_members_is_refused(tmp_path: Path, members: str,
                                                                      expected: list[str]) -> None:
    """An address two departments would claim, whether listed or by *@domain: whose case is it?"""
    assert problems(tmp_path, shipped_with(MARKETING, f"members = {members}")) == expected


# -- the shape of the file ----------------------------------------------------------------------

@pytest.mark.parametrize("old, new, expected", [
    ('tick = "1s"', "tick = 5", 'daemon.tick: 5 is not a duration (write e.g. "90s", "30m", "1h30m")'),
    ('case_prefix = "MT"', "case_prefix = 7", "daemon.case_prefix: must be text in quotes, not 7"),
    ('processed_folder = "Processed"', 'processed_folder = ["Processed"]',
     "inbound.processed_folder: must be text in quotes, not ['Processed']"),
    ("in_company_group = true", 'in_company_group = "yes"',
     "departments[0].in_company_group: must be true or false, not 'yes'"),
    ('members = ["*@mkt.corp.example.com"]', 'members = ["*@mkt.corp.example.com", 3]',
     "departments[1].members: must be a list of text"),
    ('members = ["*@mkt.corp.example.com"]', 'members = "*@mkt.corp.example.com"',
     "departments[1].members: must be a list of text"),
    ('major_incident = [{ name = "应急办", email = "emergency@corp.example.com" }]',
     'major_incident = ["emergency@corp.example.com"]', "leaders.major_incident: must be a list of tables"),
    ('leader = { name = "王强", email = "wang.net@corp.example.com" }', 'leader = "wang.net@corp.example.com"',
     'departments[0].leader: must be a table like { name = "…", email = "…" }'),
    ('name = "网络部"', 'name = ""', "departments[0].name: missing: every department needs a name"),
    ('phone = "13800000002"', 'phon = "13800000002"',
     "departments[0].interface_a.phon: unknown key (did you mean phone?)"),
    ('digest_at = "08:30"', 'digest_at = "8h30"',
     'reports.digest_at: \'8h30\' is not a time of day (write e.g. "08:30", or "off")'),
], ids=["duration-not-text", "text", "text-not-list", "boolean", "list-item", "list", "list-of-tables", "table",
        "blank", "nested-misspelt-key", "time-of-day"])
def test_a_value_of_the_wrong_shape_is_one_problem_saying_what_was_expected(tmp_path: Path, old: str, new: str,
                                                                            expected: str) -> None:
    """Each wrongly written value is one line under its key, saying what the key takes; the
    default standing in for it raises no second problem."""
    assert problems(tmp_path, shipped_with(old, new)) == [expected]


def test_a_phone_number_written_without_quotes_is_read_as_text(tmp_path: Path) -> None:
    """`phone = 13800000002` (a TOML integer) is the same phone as "13800000002"."""
    settings = load_settings(write(tmp_path, shipped_with('phone = "13800000002"', "phone = 13800000002")), env={})
    assert settings.directory.departments[0].interface_a.phone == "13800000002"


@pytest.mark.parametrize("sender, name, email", [
    ("媒体投诉处理 <complaints@corp.example.com>", "媒体投诉处理", "complaints@corp.example.com"),
    ('"Media Desk, Corp" <Desk@Corp.Example.com>', "Media Desk, Corp", "desk@corp.example.com"),
    ("complaints@corp.example.com", "", "complaints@corp.example.com"),
])
def test_from_takes_a_name_and_address_or_a_bare_address(tmp_path: Path, sender: str, name: str, email: str) -> None:
    """outbound.from is one mailbox: its display name (quoted when it holds a comma) and
    its address, lower-cased."""
    text = shipped_with('from = "媒体投诉处理 <complaints@corp.example.com>"', f"from = '{sender}'")
    outbound = load_settings(write(tmp_path, text), env={}).outbound
    assert (outbound.from_name, outbound.from_email) == (name, email)


def test_from_with_two_addresses_is_refused_whole(tmp_path: Path) -> None:
    """complaintd sends from one address: a list is refused, and the problem quotes it whole."""
    text = shipped_with('from = "媒体投诉处理 <complaints@corp.example.com>"',
                        'from = "a@corp.example.com, b@corp.example.com"')
    [found] = problems(tmp_path, text)
    assert found.startswith("outbound.from: 'a@corp.example.com, b@corp.example.com': ")
