"""Sign-offs (落款) and signature blocks (签名档): the short lines under a mail's own words.

The same shape serves two people. Under a journalist's or a customer's complaint it is their
sign-off: their name, their outlet and desk, their phone — what the registration record wants.
Under a forwarder's note it is the forwarder's signature: their name, department, title,
phones and the company's disclaimer — none of which is about the complainant, so none of its
``电话：…`` lines may count as a field. `split()` finds the block; the callers decide whose it is.

A block is read from the end of the text upward, line by line, while the lines look like a
signature: a delimiter ("--", "——"), a valediction (此致 敬礼, 谢谢, Best regards), a
disclaimer paragraph (本邮件…保密, This e-mail is confidential…), a contact line (phones,
e-mail, address, QQ/微信), a unit or title (江城晚报社会新闻部, 网络部 主管), a person's name,
a date. It stops at prose: a line with sentence punctuation, a request ("请…处理"), a greeting
or lead-in ending in a colon, or a typed complainant field (记者：…, 客户号码：…). A block of
phone lines alone is no signature ("联系电话：139…" under a note is a typed field): it needs a
name, a unit, a valediction, a delimiter, a disclaimer or an e-mail address too.

Every pattern here runs on one line of at most _MAX_LINE characters, or on a short paragraph.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from parsers import names, phones
from parsers.outlets import outlet_name

_MAX_LINES = 40  # a signature is never longer; only the text's last lines are read
_MAX_LINE = 120  # longer lines are prose (or a disclaimer, judged by its words)

_DELIMITER = re.compile(r"(?:--|-- |—+|-{3,}+|_{3,}+|={3,}+|\*{3,}+|~{3,}+)")
_VALEDICTION = re.compile(
    r"(?:此致|敬礼|敬禮|谢谢|謝謝|多谢|多謝|感谢|感謝|祝好|顺祝|順祝|顺颂|商祺|祝[^\n]{0,8}?(?:愉快|顺利|順利|顺心)|"
    r"best regards|kind regards|best wishes|regards|best|thanks|thank you|many thanks|sincerely|cheers|yours)"
    r"[!！,，.。~～ 　]*+",
    re.IGNORECASE,
)
# A phone's or a webmail's footer under a mail: "发自我的iPhone", "Sent from my Huawei".
_FOOTER = re.compile(r"(?:发自|來自|来自|從|从|发送自|發送自|sent from|get outlook)[^\n]{0,40}", re.IGNORECASE)
_DISCLAIMER = re.compile(
    r"免责|免責|保密|机密|機密|confidential|disclaimer|本邮件|此邮件|该邮件|本郵件|此郵件|this e-?mail|"
    r"intended (?:solely )?for|如果您不是|若您不是|如您不是|if you are not|仅供|僅供|请勿|請勿|virus|未经许可|未經許可",
    re.IGNORECASE,
)
_CONTACT_LABEL = re.compile(
    r"电话|電話|手机|手機|座机|座機|传真|傳真|\btel\b|mobile|phone|\bfax\b|\bcell\b|e-?mail|邮箱|郵箱|地址|address|"
    r"\bqq\b|微信|wechat|网址|網址|www\.|https?://|^[mtf][:：]|@",
    re.IGNORECASE,
)
_ADDRESS = re.compile(r"[路街巷道]\d|\d+号|\d+號|\d+楼|\d+樓|\d+室|\d+层|邮编|郵編")
_MEDIA_WORD = re.compile(
    r"报社|報社|报业|報業|[晚日早晨商时時青法都周画畫]报|[晚日早晨商時青法都周畫]報|电视台|電視台|广播|廣播|电台|電台|杂志|雜誌|"
    r"新闻|新聞|传媒|傳媒|融媒|频道|頻道|栏目|欄目|卫视|衛視|经视|經視|网站|網站|客户端|客戶端"
)
_UNIT_WORD = re.compile(
    r"部(?![\u4e00-\u9fff])|部门|部門|中心|公司|营业厅|營業廳|分局|局$|集团|集團|有限|办公室|辦公室|\bdept\b|department|"
    r"company|\bltd\b|\bco\.|\binc\b|"
    r"经理|經理|主管|主任|总监|總監|记者|記者|编辑|編輯|工程师|工程師|专员|專員|值班|班长|组长|部长|处长|科长|局长|"
    r"站长|台长|社长|主编|主編|总编|總編|制片人|主持人|首席|资深|通讯员|通訊員",
    re.IGNORECASE,
)
_DATE = re.compile(r"\d{4}[ \t]*+[年/.\-][ \t]*+\d{1,2}[ \t]*+[月/.\-][ \t]*+\d{1,2}[ \t]*+日?")
# Prose: sentence punctuation, a long clause after a comma, or a request to someone.
_SENTENCE = re.compile(r"[。！？!?；;]|[，,][^，,]{12}")
_REQUEST = re.compile(
    r"请|請|麻烦|麻煩|烦请|煩請|务必|務必|尽快|儘快|处理|處理|登记|登記|评估|評估|核实|核實|回复|回覆|跟进|跟進|协助|協助|"
    r"反映|投诉|投訴|希望|能否|是否|please|\bpls\b|\bfyi\b|see below|kindly|could you|would you",
    re.IGNORECASE,
)
# A typed field about the complainant: the forwarder states it, it is no part of a signature.
_COMPLAINANT_FIELD = re.compile(
    r"[ \t]*+[【\[]?(?:记者|記者|记者姓名|媒体单位|媒體單位|媒体名称|媒体|媒體|客户号码|客戶號碼|用户号码|用戶號碼|"
    r"联系人|聯繫人|投诉内容|投訴內容|投诉类别|类别|類別|宽带账号|寬帶賬號|服务号码|客户手机|用户手机)[】\]]?[ \t]*+[:：]"
)
# A short label and its value that is no complainant field nor a phone label: a signature's line.
_OTHER_LABEL = re.compile(
    r"[ \t]*+(?!电话|電話|手机|手機|联系|聯繫)[\u4e00-\u9fffA-Za-z]{1,6}[ \t]*+[:：][ \t]*+[^\s。，,；;]{1,30}[ \t]*$"
)
_TRAILING_SIGN = re.compile(r"[ \t]*+(?:敬上|谨上|謹上|敬启|敬啟|拜上|上|启)$")
_LEADING_DASHES = re.compile(r"^[—\-–~·• \t]++")
# What a forwarder writes under the original (s-nail) and a complainant never does: words
# about registering the case and sending it round inside the company…
_FORWARDER_WORDS = re.compile(
    r"登记|登記|转[^\n]{0,6}?(?:部|中心|分公司)|轉[^\n]{0,6}?(?:部|中心)|请[^\n]{0,10}?(?:部|中心|分公司)|"
    r"[一二三四五1-5１-５]类|[一二三四五1-5１-５]類|类别|類別|媒体投诉|媒體投訴|综合部|綜合部|阅知|知悉|请阅|\bfyi\b",
    re.IGNORECASE,
)
# …and words a complainant uses too, which count only right under the original's sign-off.
_HANDLING_WORDS = re.compile(r"处理|處理|评估|評估|核实|核實|跟进|跟進|please|\bpls\b", re.IGNORECASE)
_GREETING = re.compile(r"[^\n]{1,12}[:：]")
_PARAGRAPH_BREAK = re.compile(r"\n[ \t]*+\n")

STRONG = frozenset({"delimiter", "valediction", "disclaimer", "unit", "name", "email", "signed"})
_WORDS = re.compile(r"[^\s|｜/,，、;；:：()（）]+")


@dataclass(frozen=True)
class Split:
    """A text cut into its own words and the signature-like block under them."""

    body: str
    block: str  # "" when the text ends in no such block

    @property
    def lines(self) -> list[str]:
        return [line.strip() for line in self.block.split("\n") if line.strip()]


def split(text: str, author: str = "") -> Split:
    """The text above its sign-off or signature block, and the block (see the module docstring).

    `author`, when known (the forwarder's display name), marks a line as the signature's name
    even when the name is not recognised as one ("同事3", a nickname).
    """
    lines = text.rstrip().split("\n")
    first = max(0, len(lines) - _MAX_LINES)
    start = len(lines)
    kinds: set[str] = set()
    index = len(lines) - 1
    while index >= first:
        line = lines[index].strip()
        if not line:
            index -= 1
            continue
        kind = line_kind(line, author)
        if kind == "disclaimer":
            index = _paragraph_start(lines, index, first)
            start = index
            kinds.add(kind)
            index -= 1
            continue
        if kind == "prose":
            break
        kinds.add(kind)
        start = index
        index -= 1
    if start >= len(lines) or not kinds & STRONG:
        return Split(text.rstrip(), "")
    return Split("\n".join(lines[:start]).rstrip(), "\n".join(lines[start:]).strip())


def _paragraph_start(lines: list[str], index: int, first: int) -> int:
    while index > first and lines[index - 1].strip():
        index -= 1
    return index


def line_kind(line: str, author: str = "") -> str:
    """What one stripped line of a possible signature is (see STRONG for the kinds that make one)."""
    if len(line) > _MAX_LINE:
        return "disclaimer" if _DISCLAIMER.search(line) else "prose"
    if _DELIMITER.fullmatch(line):
        return "delimiter"
    if _VALEDICTION.fullmatch(line) or _FOOTER.fullmatch(line):
        return "valediction"
    if _DISCLAIMER.search(line):
        return "disclaimer"
    if _COMPLAINANT_FIELD.match(line) or line.endswith((":", "：")):
        return "prose"
    if _OTHER_LABEL.match(line):  # 工号：10086, 职务：主管, 分机：8001 — a signature's own fields
        return "contact"
    if _SENTENCE.search(line) or _REQUEST.search(line):
        return "prose"
    if "@" in line:
        return "email"
    if phones.mentions(line) or _CONTACT_LABEL.search(line) or _ADDRESS.search(line):
        # "江城晚报 李记者 13912345678": a whole sign-off on one line signs as a name does.
        return "signed" if _names_someone(line) else "contact"
    if author and line.startswith(author):
        return "name"
    if _MEDIA_WORD.search(line) or _UNIT_WORD.search(line) or any(outlet_name(w) for w in _WORDS.findall(line)):
        return "unit"
    if names.is_person_name(bare_name(line)) or _role_and_name(line):
        return "name"
    if _DATE.fullmatch(line):
        return "date"
    return "prose"


def _names_someone(line: str) -> bool:
    """A contact line that also names a unit or a person (not just "电话：…")."""
    without_labels = _CONTACT_LABEL.sub(" ", line)
    if _MEDIA_WORD.search(without_labels) or _UNIT_WORD.search(without_labels):
        return True
    return any(names.is_person_name(word) for word in _WORDS.findall(without_labels))


# Who a person is, written before their name in a sign-off: "客户 申玲", "读者：王芳".
_ROLE_WORDS = frozenset({"客户", "用户", "读者", "市民", "业主", "居民", "记者", "编辑", "客戶", "用戶", "讀者", "記者"})


def _role_and_name(line: str) -> bool:
    words = _WORDS.findall(line)
    return len(words) == 2 and words[0] in _ROLE_WORDS and names.is_person_name(words[1])


def bare_name(line: str) -> str:
    """A sign-off line without its leading dashes and trailing 敬上/谨上: "—— 李明 敬上" → "李明"."""
    return _TRAILING_SIGN.sub("", _LEADING_DASHES.sub("", line.strip())).strip()


def words_below(text: str, author: str = "") -> tuple[str, str]:
    """(the original, the forwarder's words below it) for a forward written under the original.

    s-nail's forwarder types under the original, which has no end marker. Read from the end,
    the paragraphs that look like a note — a greeting ("王经理："), the forwarder's words, their
    signature or a disclaimer — are the note when one of them has a forwarder's words: ones
    a complainant does not write (登记, N类, 请…部, 综合部), or handling words (处理, 核实)
    right under the original's sign-off or right above the forwarder's own signature (one
    naming `author`, the forwarder). Without such words all of it is the original.
    """
    breaks = [0, *(m.end() for m in _PARAGRAPH_BREAK.finditer(text, 0, min(len(text), 200_000)))]
    spans = [(start, text[start:end].strip()) for start, end in zip(breaks, [*breaks[1:], len(text)], strict=True)]
    paragraphs = [(start, p) for start, p in spans if p][-12:]
    cut = None
    below_forwarders_signature = False
    for index in range(len(paragraphs) - 1, 0, -1):
        start, paragraph = paragraphs[index]
        kind = _note_paragraph(paragraph, paragraphs[index - 1][1], below_forwarders_signature)
        if kind is None:
            break
        if kind == "words":
            cut = start
        below_forwarders_signature = bool(author) and kind == "other" and author in paragraph
    if cut is None:
        return text, ""
    return text[:cut].rstrip(), text[cut:].strip()


def _note_paragraph(paragraph: str, above: str, above_forwarders_signature: bool) -> str | None:
    """"words" (a forwarder's), "other" (a greeting, a signature, a disclaimer), or None."""
    head = paragraph[:400]
    if _FORWARDER_WORDS.search(head):
        return "words"
    if _HANDLING_WORDS.search(head) and (above_forwarders_signature or _ends_an_original(above)):
        return "words"
    if _GREETING.fullmatch(paragraph) or _is_whole_sign_off(paragraph):
        return "other"
    return None


def _ends_an_original(paragraph: str) -> bool:
    """A sign-off, or the typed fields a complainant may sign with ("记者：陈英\n联系电话：…")."""
    if _is_whole_sign_off(paragraph):
        return True
    lines = [line for line in paragraph.split("\n") if line.strip()]
    return bool(lines) and len(lines) <= 4 and all(_SIGNED_FIELD.match(line) for line in lines)


_SIGNED_FIELD = re.compile(r"[ \t]*+(?:记者|記者|联系人|聯繫人|联系电话|聯繫電話|电话|電話|手机|手機|媒体单位|媒體單位)[ \t]*+[:：]")


def _is_whole_sign_off(paragraph: str) -> bool:
    found = split(paragraph)
    return bool(found.block) and not found.body.strip()
