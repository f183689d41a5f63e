"""Mailer contract: SmtpMailer against a loopback aiosmtpd server, and MaildirMailer."""

from __future__ import annotations

import email
import email.policy
from collections.abc import Iterator, Sequence
from dataclasses import replace
from email.message import EmailMessage
from pathlib import Path

import pytest

from daemon.config import MailURL, OutboundSettings
from daemon.mailer import MaildirMailer, SmtpMailer, open_mailer
from daemon.ports import OutgoingMail, SendOutcome, SendResult
from tests.support.dovecot import free_port
from tests.support.smtp import Received, SmtpServer
from tests.support.tls import TlsFiles

pytestmark = pytest.mark.integration

SUBJECT = "投诉登记：某晚报三月五日报道失实 [CASE-42]"


def make_mail(key: str = "case-42.level-1", recipients: tuple[str, ...] = ("duty@example.org",)) -> OutgoingMail:
    msg = EmailMessage()
    msg["From"] = "complaintd <complaintd@example.org>"
    msg["To"] = ", ".join(recipients)
    msg["Subject"] = SUBJECT
    msg["Message-ID"] = f"<{key}@complaintd.example.org>"
    msg["Auto-Submitted"] = "auto-generated"
    msg.set_content("请在30分钟内确认。\n.a line starting with a dot\n")
    data = msg.as_bytes(policy=email.policy.SMTP)
    return OutgoingMail(key, "complaintd@example.org", recipients, msg["Message-ID"], data)


def smtp_settings(port: int, *, allow_plaintext: bool = True, username: str | None = None, password: str | None = None) -> OutboundSettings:
    return OutboundSettings(
        url=MailURL("smtp", host="127.0.0.1", port=port, username=username),
        password=password,
        allow_plaintext=allow_plaintext,
        from_name="complaintd",
        from_email="complaintd@example.org",
    )


def dealt(count: int, connections: int) -> list[OutgoingMail]:
    """Mails m0… numbered round-robin for `connections` connections, as the outbox deals them."""
    return [replace(make_mail(f"m{i}"), connection=i % connections) for i in range(count)]


def by_connection(received: list[Received]) -> list[list[str | None]]:
    """The Message-IDs the server got over each connection (told apart by the client's port), in order."""
    peers: dict[tuple[str, int], list[str | None]] = {}
    for message in received:
        peers.setdefault(message.peer, []).append(message.message_id)
    return sorted(peers.values(), key=str)


class TestSmtpMailer:
    def test_delivers_the_exact_bytes_to_the_envelope_recipients(self, smtp: SmtpServer) -> None:
        """The server receives the message unchanged, from the envelope sender to each recipient."""
        mail = make_mail(recipients=("duty@example.org", "chief@example.org"))
        (result,) = SmtpMailer(smtp_settings(smtp.port)).send([mail])
        assert result.outcome is SendOutcome.SENT and result.refused == ()
        (received,) = smtp.wait_for(1)
        assert received.raw == mail.data
        assert received.mail_from == "complaintd@example.org"
        assert received.rcpt_tos == ("duty@example.org", "chief@example.org")
        assert received.message_id == mail.message_id

    def test_a_chinese_subject_survives(self, smtp: SmtpServer) -> None:
        """The UTF-8 subject and body decode back to the original text."""
        SmtpMailer(smtp_settings(smtp.port)).send([make_mail()])
        (received,) = smtp.wait_for(1)
        parsed = received.parsed()
        assert parsed["Subject"] == SUBJECT
        assert "请在30分钟内确认" in parsed.get_content()
        assert parsed["Auto-Submitted"] == "auto-generated"

    def test_lf_line_ends_go_out_as_crlf(self, smtp: SmtpServer) -> None:
        """A message rendered with bare LF is sent with CRLF, as SMTP requires."""
        mail = make_mail()
        lf = OutgoingMail(mail.key, mail.envelope_from, mail.recipients, mail.message_id, mail.data.replace(b"\r\n", b"\n"))
        SmtpMailer(smtp_settings(smtp.port)).send([lf])
        assert smtp.wait_for(1)[0].raw == mail.data

    def test_a_batch_goes_over_one_connection_with_results_in_order(self, smtp: SmtpServer) -> None:
        """Three mails: one connection, three SENT results in the order given."""
        mails = [make_mail(f"case-{n}.level-1") for n in range(3)]
        results = SmtpMailer(smtp_settings(smtp.port)).send(mails)
        assert [(r.key, r.outcome) for r in results] == [(m.key, SendOutcome.SENT) for m in mails]
        received = smtp.wait_for(3)
        assert [r.message_id for r in received] == [m.message_id for m in mails]
        assert len({r.peer for r in received}) == 1

    def test_a_refused_recipient_is_listed_and_the_others_still_get_it(self, smtp: SmtpServer) -> None:
        """550 at RCPT for one address: SENT to the rest, the refused one in `refused`."""
        smtp.reject = {"gone@example.org"}
        mail = make_mail(recipients=("duty@example.org", "gone@example.org", "chief@example.org"))
        (result,) = SmtpMailer(smtp_settings(smtp.port)).send([mail])
        assert result.outcome is SendOutcome.SENT
        assert result.refused == ("gone@example.org",)
        assert smtp.wait_for(1)[0].rcpt_tos == ("duty@example.org", "chief@example.org")

    def test_every_recipient_refused_is_permanent(self, smtp: SmtpServer) -> None:
        """When no recipient is accepted the mail is PERMANENT and nothing is delivered."""
        smtp.reject = {"gone@example.org"}
        mails = [make_mail("a", recipients=("gone@example.org",)), make_mail("b")]
        first, second = SmtpMailer(smtp_settings(smtp.port)).send(mails)
        assert first.outcome is SendOutcome.PERMANENT and first.refused == ("gone@example.org",)
        assert "550" in first.detail
        assert second.outcome is SendOutcome.SENT  # the connection stays usable after the refusal
        assert [r.message_id for r in smtp.wait_for(1)] == [mails[1].message_id]

    def test_a_deferred_recipient_holds_the_mail_back_for_everyone(self, smtp: SmtpServer) -> None:
        """450 at RCPT for one address: TEMPORARY and not sent, so the retry reaches all once."""
        smtp.defer = {"busy@example.org"}
        smtp.reject = {"gone@example.org"}
        mail = make_mail(recipients=("duty@example.org", "busy@example.org", "gone@example.org"))
        (result,) = SmtpMailer(smtp_settings(smtp.port)).send([mail])
        assert result.outcome is SendOutcome.TEMPORARY
        assert result.refused == ("gone@example.org",)
        assert "450" in result.detail
        assert smtp.messages == []

    def test_451_at_data_is_temporary(self, smtp: SmtpServer) -> None:
        """A 4xx reply to the message is TEMPORARY: try again later."""
        smtp.tempfail = True
        (result,) = SmtpMailer(smtp_settings(smtp.port)).send([make_mail()])
        assert result.outcome is SendOutcome.TEMPORARY
        assert "451" in result.detail
        assert smtp.messages == []

    def test_a_server_that_is_down_is_unavailable(self) -> None:
        """Connection refused gives every mail of the batch an UNAVAILABLE result (the mails are
        not at fault), reported to on_results, and no exception."""
        told: list[SendResult] = []
        results = SmtpMailer(smtp_settings(free_port())).send([make_mail("a"), make_mail("b")], told.extend)
        assert [r.outcome for r in results] == [SendOutcome.UNAVAILABLE, SendOutcome.UNAVAILABLE]
        assert all(r.detail for r in results)
        assert told == results

    def test_each_result_is_told_before_the_next_mail_is_tried(self, smtp: SmtpServer) -> None:
        """on_results sees mail 1's result while mail 2 has not reached the server yet: the
        outbox commits each one before the next, so a crash can leave only one in doubt."""
        mails = [make_mail("a"), make_mail("b")]
        seen_by_server: list[tuple[str, int]] = []
        SmtpMailer(smtp_settings(smtp.port)).send(
            mails, lambda results: seen_by_server.extend((r.key, len(smtp.messages)) for r in results))
        assert seen_by_server == [("a", 1), ("b", 2)]

    def test_each_connection_sends_its_mails_in_turn_the_connections_at_once(self, smtp: SmtpServer) -> None:
        """Mails numbered for three connections arrive over three connections, each bringing
        its own mails in their order; the results come back in the batch's order."""
        mails = dealt(9, 3)
        results = SmtpMailer(smtp_settings(smtp.port)).send(mails)
        assert [(r.key, r.outcome) for r in results] == [(m.key, SendOutcome.SENT) for m in mails]
        expected = [[m.message_id for m in mails if m.connection == c] for c in range(3)]
        assert by_connection(smtp.wait_for(9)) == sorted(expected, key=str)

    def test_each_result_is_told_before_that_connections_next_mail_is_tried(self, smtp: SmtpServer) -> None:
        """Three connections at once, and still on_results hears of each mail before the next
        mail of its connection reaches the server: a crash leaves one mail per connection in
        doubt, never two."""
        mails = dealt(9, 3)
        following = {a.key: b.message_id for a, b in zip(mails[:-3], mails[3:], strict=True)}  # next on that connection
        told, early = [], []

        def record(results: Sequence[SendResult]) -> None:
            arrived = {m.message_id for m in smtp.messages}
            told.extend(r.key for r in results)
            early.extend(r.key for r in results if following.get(r.key) in arrived)

        SmtpMailer(smtp_settings(smtp.port)).send(mails, record)
        assert len(smtp.messages) == 9 and sorted(told) == sorted(m.key for m in mails) and early == []

    def test_a_line_dropped_on_one_connection_holds_back_only_that_connections_mails(self, smtp: SmtpServer) -> None:
        """The server takes m2 (connection 0's second) and drops that line: m2 may have arrived
        (UNAVAILABLE, in doubt), connection 0's later mails were never handed over (UNAVAILABLE,
        not in doubt), and connection 1 sends all of its own."""
        mails = dealt(8, 2)
        smtp.drop_after.add(mails[2].message_id)
        results = {r.key: r for r in SmtpMailer(smtp_settings(smtp.port)).send(mails)}
        assert (results["m2"].outcome, results["m2"].in_doubt) == (SendOutcome.UNAVAILABLE, True)
        assert [(results[k].outcome, results[k].in_doubt) for k in ("m4", "m6")] == [(SendOutcome.UNAVAILABLE, False)] * 2
        assert {results[k].outcome for k in ("m0", "m1", "m3", "m5", "m7")} == {SendOutcome.SENT}
        assert sorted(m.message_id or "" for m in smtp.messages) == sorted(mails[i].message_id for i in (0, 1, 2, 3, 5, 7))

    def test_plaintext_is_refused_without_allow_plaintext(self, smtp: SmtpServer) -> None:
        """No STARTTLS offered and allow_plaintext false: nothing sent, UNAVAILABLE naming allow_plaintext."""
        (result,) = SmtpMailer(smtp_settings(smtp.port, allow_plaintext=False)).send([make_mail()])
        assert result.outcome is SendOutcome.UNAVAILABLE
        assert "allow_plaintext" in result.detail
        assert smtp.messages == []

    def test_an_empty_batch_sends_nothing(self) -> None:
        """send([]) returns [] without connecting anywhere."""
        assert SmtpMailer(smtp_settings(free_port())).send([]) == []


@pytest.fixture
def auth_smtp() -> Iterator[SmtpServer]:
    with SmtpServer(credentials=("complaintd", "s3cret")) as server:
        yield server


# aiosmtpd warns when AUTH is allowed without TLS, which this loopback server does on purpose.
@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
class TestSmtpLogin:
    def test_logs_in_when_a_username_is_set(self, auth_smtp: SmtpServer) -> None:
        """With username and password the mailer authenticates and the mail is accepted."""
        settings = smtp_settings(auth_smtp.port, username="complaintd", password="s3cret")
        (result,) = SmtpMailer(settings).send([make_mail()])
        assert result.outcome is SendOutcome.SENT
        assert len(auth_smtp.wait_for(1)) == 1

    def test_a_wrong_password_is_unavailable(self, auth_smtp: SmtpServer) -> None:
        """A failed login is a connection-level problem: UNAVAILABLE, nothing sent."""
        settings = smtp_settings(auth_smtp.port, username="complaintd", password="wrong")
        (result,) = SmtpMailer(settings).send([make_mail()])
        assert result.outcome is SendOutcome.UNAVAILABLE
        assert auth_smtp.messages == []


class TestMaildirMailer:
    def test_writes_each_message_into_new_with_its_envelope(self, tmp_path: Path) -> None:
        """One file per mail in new/: envelope headers, then the exact message; always SENT."""
        mails = [make_mail("a", recipients=("duty@example.org", "chief@example.org")), make_mail("b")]
        results = MaildirMailer(str(tmp_path / "outbox")).send(mails)
        assert [(r.key, r.outcome) for r in results] == [("a", SendOutcome.SENT), ("b", SendOutcome.SENT)]
        files = sorted((tmp_path / "outbox" / "new").iterdir(), key=lambda p: p.name)
        assert len(files) == 2
        assert list((tmp_path / "outbox" / "tmp").iterdir()) == []
        contents = {email.message_from_bytes(p.read_bytes(), policy=email.policy.default)["Message-ID"]: p.read_bytes() for p in files}
        first = contents[mails[0].message_id]
        header = b"Return-Path: <complaintd@example.org>\r\nX-Envelope-To: duty@example.org, chief@example.org\r\n"
        assert first == header + mails[0].data

    def test_the_written_message_parses_with_its_chinese_subject(self, tmp_path: Path) -> None:
        """The file is a valid message: the subject decodes and X-Envelope-To lists recipients."""
        MaildirMailer(str(tmp_path / "outbox")).send([make_mail()])
        (path,) = (tmp_path / "outbox" / "new").iterdir()
        parsed = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        assert parsed["Subject"] == SUBJECT
        assert parsed["X-Envelope-To"] == "duty@example.org"

    def test_open_mailer_picks_the_adapter_for_the_url(self, tmp_path: Path) -> None:
        """maildir: → MaildirMailer, smtp:// → SmtpMailer."""
        maildir = OutboundSettings(MailURL("maildir", path=str(tmp_path / "out")), None, False, "c", "c@example.org")
        assert isinstance(open_mailer(maildir), MaildirMailer)
        assert isinstance(open_mailer(smtp_settings(25)), SmtpMailer)


class TestSmtpTls:
    @pytest.mark.parametrize("implicit", [False, True], ids=["starttls", "smtps"])
    def test_tls_with_a_trusted_certificate_sends_without_allow_plaintext(self, trust_test_ca: TlsFiles, implicit: bool) -> None:
        """smtp:// upgrades with STARTTLS when offered; smtps:// is TLS from the start."""
        with SmtpServer(tls=trust_test_ca, implicit_tls=implicit) as server:
            url = MailURL("smtps" if implicit else "smtp", host=server.host, port=server.port)
            settings = OutboundSettings(url, None, False, "complaintd", "complaintd@example.org")
            (result,) = SmtpMailer(settings).send([make_mail()])
            assert result.outcome is SendOutcome.SENT, result.detail
            assert server.wait_for(1)[0].raw == make_mail().data

    @pytest.mark.parametrize("implicit", [False, True], ids=["starttls", "smtps"])
    def test_an_untrusted_certificate_is_unavailable(self, tls_files: TlsFiles, monkeypatch: pytest.MonkeyPatch, implicit: bool) -> None:
        """Certificates are verified: an unknown CA means UNAVAILABLE and nothing sent."""
        monkeypatch.delenv("SSL_CERT_FILE", raising=False)
        with SmtpServer(tls=tls_files, implicit_tls=implicit) as server:
            url = MailURL("smtps" if implicit else "smtp", host=server.host, port=server.port)
            settings = OutboundSettings(url, None, False, "complaintd", "complaintd@example.org")
            (result,) = SmtpMailer(settings).send([make_mail()])
            assert result.outcome is SendOutcome.UNAVAILABLE
            assert "CERTIFICATE_VERIFY_FAILED" in result.detail
            assert server.messages == []
