"""The complaint's category (投诉类别, SPEC §2): stated by a person, else judged from the story.

**Stated.** Forwarders say it in words as often as in a field: "请按三类媒体投诉登记", "属第二类",
"二类投诉", "按第4类处理", "类别：3". A numeral 1–5 (Arabic, full-width, Chinese 一…五, or the
financial 壹…伍) before 类 counts when the phrase is about a category: 第 before it, or a verb
that files it (按, 属, 归为, 定为 …), or 投诉/媒体/处理/登记 after it, or nothing (end of a
clause). "这一类问题", "同一类" and "不属于三类" do not. No library is used for the numerals: only
one to five occur, and cn2an (the usual one) reads whole amounts and brings a YAML loader and
pkg_resources along for it.

**Judged.** Rules over the SPEC §2 definitions, on the story (the original's words), the notes
and who wrote it. The first rule that holds gives the category, with a short reason in Chinese
for the record; a judged category never blocks anything (the record shows 推测 and the
acknowledgement asks to confirm):

4  passed down by the provincial company or an authority (省公司, 通信管理局, 工信部, 12300 …
   together with 转办/交办/督办/转来 …);
1  a customer (not media staff) saying they will go, or have gone, to the media — no coverage yet;
3  media staff acting for residents, readers, customers (居民/读者/业主…反映), for a story
   (采访, 报道, 新闻线索), or sent by their superiors (受…委托/指派);
5  media staff with a minor, foreseeable matter: a question, a suggestion, nothing urgent;
2  media staff about their own service (我家宽带, 我的手机, 我们报社的专线 …).

None when nothing can be said (a customer's complaint without any media in it).
"""

from __future__ import annotations

import re

from parsers import names, signoff
from parsers.message import Category
from parsers.outlets import outlet_name

# --- stated ------------------------------------------------------------------------------------

_NUMERALS = {"一": 1, "二": 2, "三": 3, "四": 4, "五": 5, "壹": 1, "贰": 2, "貳": 2, "叁": 3, "參": 3, "肆": 4, "伍": 5}
_NUMERAL = r"[1-5１-５一二三四五壹贰貳叁參肆伍]"
_FILING_VERB = r"(?:按照|按|属于|屬於|属|屬|归为|歸為|归入|列为|列為|列入|定为|定為|纳入|作为|作為|当作|算|为|為|是|登记为|登記為)"
_STATED = re.compile(
    # 类别：3 / 类别为三 / 投诉类别 第2类 (the field name itself, when typed in a sentence)
    r"(?:类别|類別)[ \t]*+(?:为|為|是|应为|應為|定为|定為|[:：])?[ \t]*+第?[ \t]*+(?P<field>" + _NUMERAL + r")"
    # 第三类 / 按三类 / 三类投诉 / 三类。
    r"|(?P<before>第|" + _FILING_VERB + r")?[ \t]*+(?P<n>" + _NUMERAL + r")[ \t]*+(?:类|類)(?![别別型])"
    r"(?P<after>[ \t]*+(?:媒体|媒體|投诉|投訴|处理|處理|登记|登記|事件|问题|問題)|[ \t]*+(?:[。，,；;）)！!\n]|$))?"
    r"|category[ \t]*+(?:[:：#]|is)?[ \t]*+(?P<en>[1-5])",
    re.IGNORECASE,
)
_NOT_A_CATEGORY_BEFORE = ("这", "這", "那", "同", "此", "某", "哪", "每", "统", "統", "单", "單", "唯", "另", "第一")
_NEGATION = re.compile(r"(?:不|非|并非|並非|不是|不属|不屬)[^，,。]{0,3}$")


def stated(text: str) -> tuple[int, str] | None:
    """The category a person wrote in `text`, and the phrase that says it; None if none does.
    The last phrase wins: a correction follows what it corrects ("二类，不，应为三类")."""
    found: tuple[int, str] | None = None
    for match in _STATED.finditer(text[:5_000]):
        value = _value(match)
        if value is None or not _is_about_a_category(match, text):
            continue
        found = (value, _phrase(text, match.start(), match.end()))
    return found


def _value(match: re.Match[str]) -> int | None:
    token = match.group("field") or match.group("n") or match.group("en")
    token = token.translate(str.maketrans("１２３４５", "12345"))
    number = int(token) if token.isdigit() else _NUMERALS.get(token)
    return number if number is not None and 1 <= number <= 5 else None


def _is_about_a_category(match: re.Match[str], text: str) -> bool:
    preceding = text[max(0, match.start() - 6): match.start()]
    if _NEGATION.search(preceding):
        return False
    if match.group("n") is None:
        return True
    if not match.group("before") and preceding.endswith(_NOT_A_CATEGORY_BEFORE):
        return False
    return bool(match.group("before") or match.group("after") is not None)


def _phrase(text: str, start: int, end: int) -> str:
    """The clause around a match, for the record's reason (at most 30 characters)."""
    left = start
    while left > max(0, start - 20) and text[left - 1] not in "。！？!?；;，,\n":
        left -= 1
    right = end
    while right < min(len(text), end + 10) and text[right] not in "。！？!?；;，,\n":
        right += 1
    return text[left:right].strip()[:30]


# --- judged -------------------------------------------------------------------------------------

_AUTHORITY = re.compile(
    r"省公司|省分公司|集团公司|集團公司|集团客服|通信管理局|通管局|工信部|工业和信息化部|工業和信息化部|申诉中心|申訴中心|"
    r"12300|网信办|網信辦|宣传部|宣傳部|省委|市委|市政府|区政府|區政府|政府办|市长热线|市長熱線|12345|上级主管部门|主管部门|上级部门"
)
_PASSED_DOWN = re.compile(r"转来|轉來|转办|轉辦|交办|交辦|督办|督辦|批转|批轉|转交|轉交|转你|转贵|转至|转到|要求.{0,6}(?:处理|核实|回复|反馈)")
# The writer is media staff: a self-introduction with a media role, or a media "we".
_MEDIA_SELF = re.compile(
    r"我是[^。！？!?\n]{0,24}?(?:记者|記者|编辑|編輯|主持人|通讯员|通訊員|制片人|主编|主編)|本人是?[^。！？!?\n]{0,16}?(?:记者|記者|编辑|編輯)|"
    r"作为[^。！？!?\n]{0,8}?(?:记者|記者|媒体人|媒體人)|我[叫是][^。！？!?\n]{0,8}?[，,]是?[^。！？!?\n]{0,16}?(?:记者|記者|编辑|編輯)|"
    r"本报|本報|我报|我報|本台|我台|本刊|我刊|我们报社|我們報社|我们栏目|我們欄目|本栏目|本欄目|我们电视台|我们台|我们媒体"
)
_MEDIA_ROLE = re.compile(r"记者|記者|编辑|編輯|主持人|通讯员|通訊員|制片人|主编|主編|栏目组|欄目組")
_ROLE_NAME = re.compile(r"(?:记者|記者|编辑|編輯|主持人)[ \t]*+")
# The writer says they are a customer: then no rule about media staff applies.
_CUSTOMER_SELF = re.compile(
    r"(?:我是|本人是|作为|作為)[^。！？!?\n，,]{0,8}?(?:用户|用戶|客户|客戶|机主|機主)|我是[^。！？!?\n]{0,6}?(?:老|忠实)?(?:用户|客户)"
)
# A customer going to the media: a verb of turning to, then the media (a named outlet, or
# words for the media) within a few words; or the words for exposing it.
_TURN_TO = re.compile(r"向|找|去|给|給|联系|聯繫|跟|告诉|告訴|投诉到|反映到|打给|打电话给|打電話給|上|让|讓")
_MEDIA_WORDS = re.compile(
    r"媒体|媒體|报社|報社|电视台|電視台|记者|記者|电台|電台|报纸|報紙|新闻|新聞|热线|熱線"
)
_EXPOSE = re.compile(r"曝光|上电视|上電視|上报纸|上報紙|上新闻|上新聞|发微博|發微博|发到网上|發到網上|评评理|評評理")
# Only media staff receive the public's complaints: "接到居民反映", "读者向本报爆料".
_RECEIVED_FROM_PUBLIC = re.compile(
    r"接到[^。！？!?\n]{0,16}?(?:反映|投诉|投訴|爆料|报料|報料|求助|来电|來電|来信|來信)|向本报|向本報|向我们反映|向我們反映|"
    r"(?:读者|讀者|观众|觀眾|听众|聽眾|网友|網友)[^。！？!?\n]{0,6}?(?:反映|投诉|投訴|爆料|报料|報料|求助|来电|來電|打来|打來)|"
    # and only they make the news: "我们准备做一篇报道", "拟于明日刊发".
    r"(?:做|写|寫|刊发|刊發|刊登|播出|推出|发表|發表)[^。！？!?\n]{0,8}?(?:报道|報道|专题|專題|节目|節目|稿件)"
)
# Media staff acting for others: a group of people, then a verb of telling, within a few words.
_FOR_OTHERS = re.compile(
    r"(?P<who>读者|讀者|市民|居民|业主|業主|用户|用戶|群众|群眾|网友|網友|观众|觀眾|听众|聽眾|村民|商户|商戶|老人|学生|學生|"
    r"家长|家長|消费者|消費者|乘客|患者|客户|客戶|租户|住户|住戶|街坊|师生|師生)(?![报報])"  # not 中国消费者报
    r"[^。！？!?\n]{0,30}?(?:反映|投诉|投訴|来电|來電|爆料|报料|報料|求助|来信|來信|联名|聯名|称|稱|表示|诉说|訴說|说|說|"
    r"打来|打來|致电|致電|找到)"
)
_STORY = re.compile(
    r"采访|採訪|报道|報道|新闻线索|新聞線索|见报|見報|播出|稿件|版面|专题|專題|调查|調查|曝光|关注|關注|节目|節目|栏目|欄目"
)
_SENT_BY_SUPERIORS = re.compile(r"受[^。！？\n]{0,8}?(?:委托|委託|指派)|领导(?:指派|安排|交代)|領導(?:指派|安排)")
_OWN_SERVICE = re.compile(
    r"(?:我家|我的|我们单位|我們單位|我们报社|我們報社|我们台|我們台|我单位|我單位|本人的?|我们办公室|我自己|我们编辑部|我們編輯部|"
    r"我们栏目|我們欄目|我爱人|我父母|我母亲|我父亲)[^。！？!?\n]{0,10}?"
    r"(?:宽带|寬帶|手机|手機|号码|號碼|电话|電話|网络|網絡|套餐|专线|專線|话费|話費|账单|賬單|信号|信號|固话|固話|IPTV|光纤|光纖|账户|賬戶|业务|業務)"
)
_MINOR = re.compile(
    r"咨询|諮詢|询问|詢問|了解一下|问一下|問一下|请教|請教|建议|建議|小问题|小問題|不着急|不急|方便时|方便時|有空|顺便|順便|"
    r"提个醒|提個醒|提醒一下|随便问问|隨便問問"
)
_SERIOUS = re.compile(
    r"断网|斷網|没有信号|沒有信號|无信号|無信號|中断|中斷|故障|投诉|投訴|曝光|严重|嚴重|强烈|強烈|多次|至今|重复扣|重複扣|"
    r"乱收费|亂收費|态度恶劣|態度惡劣|拖延|推诿|推諉|欺骗|欺騙|损失|損失"
)


def judged(story: str, notes: str = "", sender_name: str = "") -> Category | None:
    """The category the story suggests (see the module docstring), or None."""
    head = story[:4_000]
    around = notes[:4_000] + "\n" + head
    authority = _AUTHORITY.search(around)
    if authority is not None and _PASSED_DOWN.search(around):
        return Category(4, "judged", f"{authority.group(0)}转办")
    media = _writer_is_media(head, sender_name) or _RECEIVED_FROM_PUBLIC.search(head) is not None
    if _CUSTOMER_SELF.search(head) or not media:
        if _turns_to_the_media(head):
            return Category(1, "judged", "客户称要向媒体反映，尚未见报道")
        return None
    return _media_category(head)


def _writer_is_media(head: str, sender_name: str) -> bool:
    """Media staff: they say so ("我是…记者", "本报"), introduce themselves in the third person
    ("成都商报记者葛欣向贵公司反映"), or sign with a role or an outlet's name."""
    if _MEDIA_SELF.search(head) or _third_person_self(head):
        return True
    block = signoff.split(head).block
    signed = f"{block}\n{sender_name}"
    return bool(_MEDIA_ROLE.search(signed)) or any(outlet_name(word) for word in _WORDS.findall(signed))


_WORDS = re.compile(r"[^\s|｜/,，、;；:：()（）<>《》]+")


def _third_person_self(head: str) -> bool:
    """An outlet, a role and a person's name at the start: "湖北广播电视台记者顾晓欣向贵公司反映"."""
    sentences = [s for s in re.split(r"[。！？!?\n]", head[:600]) if s.strip()]
    for sentence in sentences[:3]:
        for role in _ROLE_NAME.finditer(sentence[:80]):
            before = sentence[max(0, role.start() - 16): role.start()].rstrip("的 ")
            after = sentence[role.end(): role.end() + 8]
            if outlet_name(_tail_run(before)) and names.leading_name(after):
                return True
    return False


def _tail_run(text: str) -> str:
    """The characters at the end of `text` that can be an outlet's name (no punctuation)."""
    start = len(text)
    while start > 0 and (text[start - 1].isalnum() or text[start - 1] in "《》"):
        start -= 1
    return text[start:]


def _turns_to_the_media(head: str) -> bool:
    if _EXPOSE.search(head):
        return True
    for verb in _TURN_TO.finditer(head):
        after = head[verb.end(): verb.end() + 16]
        if _MEDIA_WORDS.match(after.lstrip("了过的 ")) or outlet_name(_lead_run(after)):
            return True
        words = _MEDIA_WORDS.search(after)
        if words is not None and not re.search(r"[。！？!?，,\n]", after[: words.start()]):
            return True
    return False


def _lead_run(text: str) -> str:
    text = text.lstrip("了过過的 《")
    end = 0
    while end < len(text) and (text[end].isalnum() or text[end] in "《》"):
        end += 1
    return text[:end]


def _media_category(head: str) -> Category | None:
    others = _FOR_OTHERS.search(head)
    if others is not None:
        return Category(3, "judged", f"记者代{others.group('who')}反映")
    if _SENT_BY_SUPERIORS.search(head):
        return Category(3, "judged", "媒体人员受委托或指派反映")
    own = _OWN_SERVICE.search(head)
    minor = _MINOR.search(head) and not _SERIOUS.search(head)
    if minor:
        return Category(5, "judged", "媒体人员一般性咨询，影响轻微")
    if own is not None:
        return Category(2, "judged", "媒体人员反映自身业务问题")
    if _STORY.search(head):
        return Category(3, "judged", "记者采访或拟报道")
    return None
