"""Who complains and how to reach them: the registration record's 记者/联系人, 媒体单位, 联系电话
and 客户号码, read from the layers of a complaint mail.

A forwarded complaint has layers, and each says something about different people:

- the forwarders' notes (the outermost above or below the original, intermediate ones inside
  nested forwards), each ending in its writer's signature block — name, department, phones,
  disclaimer: about the forwarder, never about the complainant;
- the innermost original: the complainant's own words (a self-introduction, "我是江城晚报记者
  李明"; numbers of the customers they write about) and their sign-off (name, outlet, phone).

So the complainant's details come from the original first; a ``字段：值`` line a forwarder
typed in a note (above their signature) states or corrects one and wins; a signature block
never counts (parsers/signoff.py tells it from the note). A direct mail is one layer: the
writer's text and sign-off.

In the original, each detail is taken from the most explicit place that has it: a typed
field, then the words ("我叫王芳", "我的电话…", "其手机号码…"), then the sign-off, then the
sender's display name. A number is the customer's or the writer's by the nearest word that
owns it in its clause ("读者王女士（电话138…）" → customer; "请联系我，电话139…" → writer).
When the original is a relay — a provincial office or an authority passing a journalist's
complaint on ("现将江城晚报记者王芳反映的问题转你公司") — its sign-off is the relaying office's,
and the journalist named in it is the reporter.

Only the head and the tail of a long original are read (_HEAD, _TAIL characters): a complaint
introduces itself at the top and signs at the bottom.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from parsers import names, phones, signoff
from parsers.complaint import extract_form, merge_forms
from parsers.message import Address, FormFields
from parsers.outlets import outlet_name

_HEAD = 3_000
_TAIL = 1_500


@dataclass(frozen=True)
class Note:
    """A forwarder's own words, as written (with their signature), and who wrote them."""

    text: str
    author: str = ""  # display name of the forwarder, when known


def details(notes: tuple[Note, ...], original: str, sender: Address | None, typed_form_is_staff: bool = False) -> FormFields:
    """The complainant's details: fields typed in the notes (outer first) over those read from
    the original. `typed_form_is_staff`: the original is a staff member's own text (a typed
    form, a phone call noted down), so its signature is the staff member's, not a sign-off."""
    stated = FormFields()
    for note in notes:
        stated = merge_forms(stated, typed_fields(note.text, note.author))
    return merge_forms(stated, read_original(original, sender, typed_form_is_staff))


def typed_fields(note: str, author: str = "") -> FormFields:
    """The `字段：值` lines a forwarder typed in a note, above their signature block."""
    words = signoff.split(note, author).body
    form, _ = extract_form(words)
    return merge_forms(_cleaned(form), _numbers_stated(words))


# Whose number a forwarder gives in a sentence of the note ("请处理，记者电话：139…"): the
# complainant's — never the forwarder's own ("我的电话"), which is no field.
_THE_COMPLAINANTS = re.compile(r"记者|記者|联系人|聯繫人|对方|對方|媒体|媒體")


def _numbers_stated(words: str) -> FormFields:
    phone = customer = None
    for mention in phones.mentions(words[:_HEAD]):
        clause = _clause_before(words, mention.start)
        if _owner(clause) == "customer":
            customer = customer or mention.number
        elif _THE_COMPLAINANTS.search(clause):
            phone = phone or mention.number
    return FormFields(phone=phone, customer_number=customer)


def read_original(text: str, sender: Address | None, staff: bool = False) -> FormFields:
    """The complainant's details as the original (or a direct mail) gives them."""
    form, _ = extract_form(text)  # every line: a typed field may be anywhere, and is kept whole
    typed = _cleaned(form)
    text = _bounded(text)
    if staff and (typed.reporter_name or typed.media_outlet):
        return typed  # a staff-typed form: what is not typed is not known
    cut = signoff.split(text)
    relay = _is_relay(cut.body)
    sign_off = "" if staff or relay else cut.block
    read = FormFields(
        reporter_name=_reporter(cut.body, sign_off, sender, relay),
        media_outlet=_outlet(cut.body, sign_off, sender),
        phone=_phone(cut.body, sign_off),
        customer_number=_customer_number(cut.body),
    )
    return merge_forms(typed, read)


def _bounded(text: str) -> str:
    if len(text) <= _HEAD + _TAIL:
        return text
    return text[:_HEAD] + "\n\n" + text[-_TAIL:]


# --- typed values ------------------------------------------------------------------------------

_ACCOUNT_VALUE = re.compile(r"[A-Za-z0-9][A-Za-z0-9@._\-]{3,39}")


def _cleaned(form: FormFields) -> FormFields:
    """Typed values made registrable: numbers as digits, a reporter's name without the phone
    or outlet typed on the same line ("记者：李明 13060809393")."""
    return FormFields(
        media_outlet=form.media_outlet,
        reporter_name=_typed_name(form.reporter_name),
        phone=_typed_phone(form.phone),
        customer_number=_typed_number(form.customer_number),
        complaint_text=form.complaint_text,
        category=form.category,
    )


def _typed_name(value: str | None) -> str | None:
    if not value:
        return None
    for token in _tokens(value):
        if names.is_person_name(token):
            return token
    first = _tokens(value)
    return first[0] if first else None


def _typed_phone(value: str | None) -> str | None:
    if not value:
        return None
    found = phones.mentions(value)
    return found[0].number if found else None


def _typed_number(value: str | None) -> str | None:
    """A customer number as digits when it is a phone, else the account as typed."""
    if not value:
        return None
    found = phones.mentions(value)
    if found:
        return found[0].number
    account = _ACCOUNT_VALUE.search(value)
    return account.group(0) if account else value.strip() or None


_TOKEN_SPLIT = re.compile(r"[\s|｜/,，、;；:：()（）\[\]【】<>《》\"“”]+")


def _tokens(text: str) -> list[str]:
    return [token for token in _TOKEN_SPLIT.split(text) if token]


# --- the reporter (记者 / 联系人) --------------------------------------------------------------

# "我叫王芳", "我的名字是…", "本人王芳", "我是王芳，…": a name right after these words.
_NAME_INTRO = re.compile(r"我叫|我名叫|我的名字是|我的名字叫|名叫|本人叫|本人是|本人|我姓[^\s，,。]{1,2}?[，,]?名?叫|我是|我係")
# A role word, then the name: "我是江城晚报记者李明", "江城晚报记者李明反映".
_ROLE = re.compile(r"(?:首席|资深|实习|见习|特约|驻[^\s，,。]{1,4}?)?(?:记者|記者|编辑|編輯|主持人|通讯员|通訊員|制片人|主编|主編)[ \t]*+")
_BREAK_AFTER_NAME = "，,。.、；;：:（( \t\n!！?？"
# A relay: an office passing on a journalist's complaint, in its own words.
# (Not 下发: "问一下发票" has it.)
_RELAY = re.compile(r"转来|转办|交办|转交|转你|转给你|转贵|转至你|批转|督办|转请|現將|现将|轉來|轉辦")


def _reporter(body: str, sign_off: str, sender: Address | None, relay: bool) -> str | None:
    head = body[:_HEAD]
    mentioned = _mentioned_name(head)
    if relay and mentioned:
        return mentioned
    return (_introduced_name(head) or _signed_name(sign_off) or _display_name(sender) or mentioned)


def _introduced_name(head: str) -> str | None:
    """The writer's name from a self-introduction, in the first sentences."""
    for match in _NAME_INTRO.finditer(head):
        after = head[match.end(): match.end() + 8].lstrip(" \t")
        name = names.leading_name(after)
        if name and _ends_cleanly(after, name, strict=match.group(0) in ("我是", "我係", "本人", "本人是")):
            return name
        clause = _clause_from(head, match.end())
        role = _ROLE.search(clause)
        if role is not None and match.group(0) in ("我是", "我係", "本人是", "本人"):
            name = names.leading_name(clause[role.end():])
            if name:
                return name
    return None


def _ends_cleanly(after: str, name: str, strict: bool) -> bool:
    """Whether a name read after "我是"/"本人" is a name and not the start of a unit's name:
    it must be followed by a break ("我是王芳，…"), not by more words ("我是江城电视台…")."""
    following = after[len(name): len(name) + 1]
    return not strict or not following or following in _BREAK_AFTER_NAME or following in "是系"


def _clause_from(text: str, start: int) -> str:
    end = start
    limit = min(len(text), start + 40)
    while end < limit and text[end] not in "。！？!?；;\n":
        end += 1
    return text[start:end]


def _mentioned_name(head: str) -> str | None:
    """A journalist named in the third person: "江城晚报记者王芳反映", "记者李明来电"."""
    for role in _ROLE.finditer(head):
        name = names.leading_name(head[role.end(): role.end() + 8])
        if name:
            return name
    return None


def _signed_name(sign_off: str) -> str | None:
    """The name in a sign-off: a line of its own, else a name among the words of a line."""
    lines = [signoff.bare_name(line) for line in sign_off.split("\n") if line.strip()]
    for line in lines:
        if names.is_person_name(line):
            return line
    for line in lines:
        role = _ROLE.search(line)
        if role is not None:
            name = names.leading_name(line[role.end():])
            if name:
                return name
        for token in _tokens(line):
            if names.is_person_name(token) and not phones.mentions(token):
                return token
    return None


def _display_name(sender: Address | None) -> str | None:
    """The original sender's display name when it is (or holds) a person's name."""
    if sender is None or not sender.name:
        return None
    if names.is_person_name(sender.name.strip()):
        return sender.name.strip()
    for token in _tokens(sender.name):
        if names.is_person_name(token):
            return token
    return None


def _is_relay(body: str) -> bool:
    return _RELAY.search(body[:_HEAD]) is not None


# --- the outlet (媒体单位) ---------------------------------------------------------------------

# Characters that end an outlet's name read backwards from its suffix (grammar, pronouns,
# punctuation): "向江城晚报反映" → 江城晚报.
_NOT_IN_OUTLET = set("是向给給的在和与與对對找到了被把据據及或等我们們您你他她其也就还還将將要请請让讓从從为為系自于於即")
_OUTLET_CHARS = re.compile(r"[\u4e00-\u9fffA-Za-z0-9《》]")  # 《湖北日报》: the marks go in outlet_name()
# Words between an outlet and a role: "是湖北经视的一名记者", "长江日报 的 首席记者".
_BEFORE_ROLE = re.compile(r"(?:的|[ \t]|一名|一位|名|位)+$")
_INTRO_BEFORE_OUTLET = re.compile(
    r"我是|我们是|我們是|本人是|这里是|這裡是|这边是|這邊是|来自|來自|我系|我係|代表|供职于|供職於|任职于|任職於|就职于|就職於"
)
# Words a customer writes just before the outlet they turn to: "向…反映", "找…曝光", "告诉…".
_OUTLET_CONTEXT = re.compile(
    r"向|找|联系|聯繫|给|給|跟|到|去|让|讓|通过|通過|打|告诉|告訴|告知|上|在|求助|致电|致電|写信给|投稿"
)


def _outlet(body: str, sign_off: str, sender: Address | None) -> str | None:
    head = body[:_HEAD]
    return (_outlet_before_role(head) or _outlet_after_intro(head) or _outlet_in_lines(sign_off)
            or _outlet_in_lines(sender.name if sender else "") or _outlet_in_context(head))


def _outlet_before_role(head: str) -> str | None:
    """"我是江城晚报社会新闻部记者…", "长江日报的记者…": the outlet just before the role word."""
    for role in _ROLE.finditer(head):
        outlet = outlet_name(_run_before(head, role.start()))
        if outlet:
            return outlet
    return None


def _outlet_after_intro(head: str) -> str | None:
    for intro in _INTRO_BEFORE_OUTLET.finditer(head):
        outlet = outlet_name(_run_after(head, intro.end()))
        if outlet:
            return outlet
    return None


def _outlet_in_context(head: str) -> str | None:
    """An outlet a customer says they go to: "向江城晚报反映", "找楚天都市报曝光"."""
    for word in _OUTLET_CONTEXT.finditer(head):
        outlet = outlet_name(_run_after(head, word.end()))
        if outlet:
            return outlet
    return None


def _outlet_in_lines(text: str) -> str | None:
    for line in text.split("\n"):
        for token in _TOKEN_SPLIT.split(line):
            outlet = outlet_name(token)
            if outlet:
                return outlet
    return None


def _run_before(text: str, end: int) -> str:
    """The outlet-name characters just before `end` (a trailing "的一名" skipped), at most 16."""
    end = len(_BEFORE_ROLE.sub("", text[max(0, end - 24): end])) + max(0, end - 24)
    start = end
    while start > max(0, end - 16) and _OUTLET_CHARS.fullmatch(text[start - 1]) and text[start - 1] not in _NOT_IN_OUTLET:
        start -= 1
    return text[start:end]


def _run_after(text: str, start: int) -> str:
    """The outlet-name characters from `start` (a leading 《 skipped), at most 16."""
    while start < len(text) and text[start] in "《 \t的":
        start += 1
    end = start
    while end < min(len(text), start + 16) and _OUTLET_CHARS.fullmatch(text[end]) and text[end] not in _NOT_IN_OUTLET:
        end += 1
    return text[start:end]


# --- phones: the writer's, and the customers' -----------------------------------------------------

_CLAUSE_END = "。！？!?；;\n，,"
# Whose number: the nearest of these words before it in its clause decides.
_CUSTOMER_WORDS = re.compile(
    r"客户|客戶|用户|用戶|业主|業主|读者|讀者|市民|居民|群众|群眾|网友|網友|观众|觀眾|听众|聽眾|村民|商户|商戶|"
    r"老人|消费者|消費者|投诉人|投訴人|当事人|當事人|机主|機主|其|他|她|该|該|女士|先生|阿姨|大爷|大爺|家属|家屬"
)
_WRITER_WORDS = re.compile(r"我|本人|记者|記者|联系我|聯繫我|与我|與我|找我|本报|本報")
# Labels of a service's number (the customer's, or the writer's own line when they are the
# customer): 号码, 账号. Labels of a way to reach someone: 电话, 手机, 联系. "手机号码" is both
# words; the longer, later one (号码) is the nearer label and decides.
_ACCOUNT_LABEL = re.compile(
    r"客户号码|客戶號碼|用户号码|用戶號碼|服务号码|服務號碼|业务号码|業務號碼|故障号码|涉及号码|投诉号码|受理号码|"
    r"宽带账号|寬帶賬號|宽带帐号|账号|帳號|帐号|賬號|账户|賬戶|宽带号码|固话号码|手机号码|手機號碼|手机号|手機號|号码|號碼"
)
_CONTACT_LABEL = re.compile(
    r"联系电话|聯繫電話|联系方式|聯繫方式|联系|聯繫|电话|電話|手机|手機|座机|座機|致电|拨打|撥打|\btel\b|mobile|phone",
    re.IGNORECASE,
)
_FAX_LABEL = re.compile(r"传真|傳真|fax|热线|熱線|客服", re.IGNORECASE)


@dataclass(frozen=True)
class _Owned:
    number: str
    kind: str
    owner: str  # "writer" | "customer" | "unknown"
    start: int


def _owned_numbers(text: str) -> list[_Owned]:
    owned = []
    for mention in phones.mentions(text):
        owner = _owner(_clause_before(text, mention.start))
        if owner is not None:
            owned.append(_Owned(mention.number, mention.kind, owner, mention.start))
    return owned


def _clause_before(text: str, end: int) -> str:
    start = end
    while start > max(0, end - 30) and text[start - 1] not in _CLAUSE_END:
        start -= 1
    return text[start:end]


def _owner(clause: str) -> str | None:
    """Whose number the clause before it says; None for a fax or a hotline (no one's).

    The nearest label decides: a service's number (号码, 账号) is a customer number — also the
    writer's own line, when the writer is the customer; a contact (电话, 联系) is the person's
    the nearest owning word names, the writer's when none does.
    """
    if _FAX_LABEL.search(clause[-8:]):
        return None
    account = _last_end(_ACCOUNT_LABEL, clause)
    contact = _last_end(_CONTACT_LABEL, clause)
    customer = _last_end(_CUSTOMER_WORDS, clause)
    writer = _last_end(_WRITER_WORDS, clause)
    if account > contact:
        return "customer"
    if customer > writer:
        return "customer"
    if writer >= 0 or contact >= 0:
        return "writer"
    return "unknown"


def _last_end(pattern: re.Pattern[str], text: str) -> int:
    ends = [match.end() for match in pattern.finditer(text)]
    return ends[-1] if ends else -1


def _phone(body: str, sign_off: str) -> str | None:
    """The writer's phone: one they give in their words, else their sign-off's (a mobile before
    a landline), else a number nobody is said to own."""
    in_body = _owned_numbers(body[:_HEAD] + "\n" + body[-_TAIL:] if len(body) > _HEAD + _TAIL else body)
    said = [n for n in in_body if n.owner == "writer"]
    if said:
        return said[0].number
    signed = _signed_numbers(sign_off)
    mobiles = [n for n in signed if n.kind == "mobile"]
    if mobiles or signed:
        return (mobiles or signed)[0].number
    unknown = [n for n in in_body if n.owner == "unknown"]
    return unknown[0].number if unknown else None


def _signed_numbers(sign_off: str) -> list[phones.PhoneMention]:
    """The numbers of a sign-off: all the writer's, but a fax or a hotline (no one's)."""
    return [m for m in phones.mentions(sign_off) if not _FAX_LABEL.search(_clause_before(sign_off, m.start)[-8:])]


_ACCOUNT_IN_TEXT = re.compile(
    r"(?:宽带|寬帶|ADSL|光纤|光纖|IPTV|固话|固話|业务|業務)?(?:账号|帳號|帐号|賬號|账户|賬戶)[ \t]*+(?:为|為|是|：|:)?[ \t]*+"
    r"(?P<account>[A-Za-z0-9][A-Za-z0-9@._\-]{3,39})",
    re.IGNORECASE,
)


def _customer_number(body: str) -> str | None:
    """The customer's number: one the text says is a customer's (or an account), in order."""
    head = body[:_HEAD]
    owned = [n for n in _owned_numbers(head) if n.owner == "customer"]
    account = _ACCOUNT_IN_TEXT.search(head)
    first_owned = owned[0].start if owned else len(head)
    if account is not None and not phones.mentions(account.group("account")) and account.start() < first_owned:
        return account.group("account")
    return owned[0].number if owned else None
