"""Invented complaint mails with their ground truth, for bench/accuracy.py and tests/unit/test_fields.py.

    invent(count, seed) -> list[InventedMail]

Each mail is built by combining, at random (one `random.Random(seed)`), several independent
templates per aspect, so that no field can be right by knowing one phrasing:

- who: journalists of many outlets (two known to config.toml, most not), customers, provincial
  offices relaying a journalist's complaint; random names (single and compound surnames),
  mailboxes at the outlet's domain or at free mail providers, display names in several forms;
- what: stories generated for a category (SPEC §2) — a customer threatening the media (1),
  a journalist about their own line (2), for residents or a story (3), a relay from the
  provincial company or an authority (4), a small question (5) — so the category's truth is
  how the story was made; customers' numbers and accounts, or none;
- how they sign: self-introductions in several wordings, sign-offs in several layouts, phones
  (mobiles and landlines, in many written forms) in the text, the sign-off, both, or nowhere;
- the forwarder: notes that state the category in words or digits ("请按三类媒体投诉登记",
  "属第二类", "类别：3", "按第4类处理") or say nothing; sometimes a typed correction ("记者：…");
  signatures with their own name, department, phones, titles and disclaimers;
- the client: Outlook (zh, en, the new rule style), Foxmail, Coremail, Gmail (zh, en),
  Thunderbird (zh, en), Apple Mail (en, zh), mutt, s-nail (note below), forward as attachment,
  forwards of forwards, and direct mail; charsets UTF-8, GBK, GB2312-labelled GBK, GB18030;
  base64, quoted-printable and 8-bit; plain and HTML-only bodies.

Everything is invented: example domains, random numbers that are valid CN numbers.
"""

from __future__ import annotations

import base64
import html
import quopri
import random
import textwrap
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

CST = timezone(timedelta(hours=8))
MAILBOX = "complaints@corp.example.com"

# --- truth ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Truth:
    """What the registration record should say about one invented mail."""

    reporter: str | None
    phone: str | None  # digits, as the register stores them
    customer_number: str | None
    category: int | None
    basis: str | None  # "stated" | "judged"
    sender_email: str
    sent_at: datetime
    subject: str
    outlet: str | None
    note: str  # a sentence the recorded note must hold ("" for a direct mail: no note)
    original_words: str  # a sentence of the original, which must not be in the note


@dataclass(frozen=True)
class InventedMail:
    raw: bytes
    truth: Truth
    client: str
    recipe: str  # what was combined, to read a wrong case by
    arrived_at: datetime


# --- people ----------------------------------------------------------------------------------------

SURNAMES = [*("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蒋蔡余杜叶程苏魏吕"
                "丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦方白邹孟熊秦邱江尹薛段雷侯龙史陶黎贺顾毛郝龚邵万钱严武戴"
                "莫孔向汤常温康施文牛樊葛邢安齐易乔伍庞颜倪庄聂章鲁岳翟殷詹申欧耿关兰焦俞左柳甘祝包宁尚符舒阮"),
            "欧阳", "司马", "上官", "诸葛", "东方", "慕容"]
GIVEN = list("伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红鹏辉玲建国峰琳雪梅晨宇欣怡浩然思雨佳"
             "俊凯博文雅婷子涵一鸣晓东海燕志强春梅丹阳亮波宁倩颖斌帆洁琪瑶")
PINYIN = ["li", "wang", "zhang", "liu", "chen", "yang", "zhao", "huang", "zhou", "wu", "xu", "sun", "ma", "hu"]

# (name, ways it is written, its mail domain or None: a free mailbox is used)
OUTLETS = [
    ("江城晚报", ["江城晚报", "江城晚报社", "《江城晚报》"], "jcwb.example.cn"),
    ("江城电视台", ["江城电视台"], "jctv.example.cn"),
    ("楚天都市报", ["楚天都市报", "《楚天都市报》", "楚天都市报社"], "ctdsb.example.cn"),
    ("长江日报", ["长江日报", "长江日报社"], None),
    ("湖北日报", ["湖北日报", "《湖北日报》"], "hbrb.example.cn"),
    ("南方都市报", ["南方都市报"], None),
    ("新京报", ["新京报", "《新京报》"], "bjnews.example.cn"),
    ("大河报", ["大河报"], None),
    ("扬子晚报", ["扬子晚报"], "yzwb.example.cn"),
    ("钱江晚报", ["钱江晚报"], None),
    ("潇湘晨报", ["潇湘晨报"], "xxcb.example.cn"),
    ("华商报", ["华商报", "华商报社"], None),
    ("齐鲁晚报", ["齐鲁晚报"], None),
    ("现代快报", ["现代快报"], "xdkb.example.cn"),
    ("华西都市报", ["华西都市报"], None),
    ("成都商报", ["成都商报"], None),
    ("澎湃新闻", ["澎湃新闻"], "thepaper.example.cn"),
    ("极目新闻", ["极目新闻"], None),
    ("红星新闻", ["红星新闻"], None),
    ("封面新闻", ["封面新闻"], None),
    ("荆楚网", ["荆楚网"], "cnhubei.example.cn"),
    ("大楚网", ["大楚网"], None),
    ("湖北经视", ["湖北经视"], None),
    ("湖北广播电视台", ["湖北广播电视台"], "hbtv.example.cn"),
    ("武汉电视台", ["武汉电视台"], None),
    ("楚天交通广播", ["楚天交通广播"], None),
    ("中国消费者报", ["中国消费者报", "《中国消费者报》"], None),
    ("消费日报", ["消费日报"], None),
    ("经济日报", ["经济日报"], None),
    ("工人日报", ["工人日报"], None),
    ("北京青年报", ["北京青年报"], None),
    ("广州日报", ["广州日报"], "gzdaily.example.cn"),
]
KNOWN_DOMAINS = ("jcwb.example.cn", "jctv.example.cn")  # config.toml's [[media_outlets]]
FREE_MAIL = ["163.com", "126.com", "qq.com", "sina.com", "gmail.com", "foxmail.com", "139.com"]
DESKS = ["社会新闻部", "新闻部", "民生新闻部", "热线部", "编辑部", "要闻部", "新闻中心", "经济部", ""]
# Staff in config.toml's departments: (display name, address).
FORWARDERS = [
    ("孙明", "sun@corp.example.com"), ("周涛", "zhou.tao@net.corp.example.com"),
    ("吴凡", "wu.fan@net.corp.example.com"), ("冯涛", "feng.mkt@corp.example.com"),
    ("蒋丽", "jiang.li@mkt.corp.example.com"), ("杨帆", "yang.fan@cs.corp.example.com"),
    ("朱琳", "zhu.lin@cs.corp.example.com"), ("许亮", "xu.liang@east.corp.example.com"),
    ("何静", "he.jing@east.corp.example.com"), ("Sun Ming", "sun@corp.example.com"),
]
FORWARDER_DEPTS = {"corp": "网络部", "net": "网络部", "mkt": "市场部", "cs": "客户服务中心", "east": "东郊分公司"}
PLACES = ["光谷", "江城花园", "滨江新区", "南湖", "金地", "万科城", "东湖", "汉阳", "阳光", "翠湖", "龙湾", "金色家园",
          "民主路", "人民路", "解放大道", "中南", "青山", "武昌", "沌口", "后湖"]
PLACE_KINDS = ["小区", "花园", "家园", "新村", "片区", "社区"]


def _person(rng: random.Random) -> str:
    surname = rng.choice(SURNAMES)
    given = "".join(rng.choice(GIVEN) for _ in range(1 if rng.random() < 0.35 else 2))
    return surname + given


# --- phones ----------------------------------------------------------------------------------------

MOBILE_PREFIXES = ["130", "131", "132", "133", "135", "136", "137", "138", "139", "147", "150", "151", "152",
                   "153", "155", "156", "157", "158", "159", "166", "173", "176", "177", "178", "180", "181",
                   "182", "183", "185", "186", "187", "188", "189", "191", "198", "199"]
# (area code without the trunk 0, local number lengths)
AREA_CODES = [("10", 8), ("20", 8), ("21", 8), ("22", 8), ("23", 8), ("24", 8), ("25", 8), ("27", 8), ("28", 8),
              ("29", 8), ("311", 7), ("371", 8), ("431", 8), ("512", 8), ("531", 8), ("571", 8), ("591", 8),
              ("710", 7), ("711", 7), ("712", 7), ("713", 7), ("714", 7), ("716", 7), ("717", 7), ("719", 7),
              ("722", 7), ("724", 7), ("728", 7), ("731", 8), ("755", 8), ("769", 8), ("851", 8), ("871", 8)]
FULL_WIDTH = str.maketrans("0123456789", "０１２３４５６７８９")


@dataclass(frozen=True)
class Phone:
    digits: str  # as stored
    written: str  # as a person typed it


def _mobile(rng: random.Random) -> Phone:
    digits = rng.choice(MOBILE_PREFIXES) + "".join(rng.choice("0123456789") for _ in range(8))
    a, b, c = digits[:3], digits[3:7], digits[7:]
    written = rng.choice([digits, f"{a} {b} {c}", f"{a}-{b}-{c}", f"+86 {digits}", f"+86-{a}-{b}-{c}",
                          f"+86 {a} {b} {c}", f"0086{digits}", f"(+86){digits}", digits.translate(FULL_WIDTH),
                          f"{a}{b}{c}", f"86-{digits}"])
    return Phone(digits, written)


def _landline(rng: random.Random) -> Phone:
    area, length = rng.choice(AREA_CODES)
    local = rng.choice("2345678") + "".join(rng.choice("0123456789") for _ in range(length - 1))
    half = len(local) // 2
    written = rng.choice([f"0{area}-{local}", f"(0{area}){local}", f"0{area} {local[:half]} {local[half:]}",
                          f"0{area}-{local[:half]} {local[half:]}", f"+86 {area} {local}", f"86-{area}-{local}",
                          f"（0{area}）{local}", f"0{area}{local}"])
    return Phone(f"0{area}{local}", written)


# --- stories, by category (SPEC §2) --------------------------------------------------------------

ISSUES = [
    ("宽带{place}连续三天频繁断网，报修后至今没有人上门", "宽带断网"),
    ("手机信号极差，室内经常无服务，打电话经常掉线", "手机没有信号"),
    ("话费被重复扣取套餐费{amount}元，多次到营业厅要求退还均被推诿", "重复扣费"),
    ("营业厅工作人员态度恶劣，办理业务拖延近三个小时", "营业厅服务态度差"),
    ("营业员在未充分说明的情况下办理了每月{amount}元的套餐，事后无法退订", "被办理高价套餐"),
    ("IPTV每晚8点后频繁卡顿、花屏，客服只让重启机顶盒", "IPTV卡顿"),
    ("附近施工挖断光缆，固话和宽带全部中断，抢修进度缓慢", "光缆中断"),
    ("办理携号转网时被多次拒绝，理由前后不一", "携号转网受阻"),
    ("晚高峰网速只有标称速率的十分之一，已经持续一个月", "网速慢"),
    ("新装宽带预约了两周仍未安装", "装机延误"),
]
GROUPS = ["居民", "业主", "读者", "市民", "村民", "商户", "用户", "网友", "观众", "听众", "老人", "家长"]
TELL = ["反映", "投诉", "来电反映", "爆料", "求助", "来信反映", "联名投诉"]
MINOR_TOPICS = ["国际漫游的资费标准", "积分兑换话费的规则", "副卡的办理流程", "宽带提速的价格", "老年卡的优惠政策",
                "5G套餐的流量结算方式", "发票的开具方式"]
AUTHORITIES = ["省公司", "省公司客服部", "省通信管理局", "工信部电信用户申诉受理中心", "市政府12345热线", "集团公司"]


@dataclass
class Original:
    """The complainant's mail, and what the truth takes from it."""

    sender_name: str
    sender_email: str
    subject: str
    body: str
    sent_at: datetime
    reporter: str | None
    phone: str | None
    customer_number: str | None
    category: int | None
    outlet: str | None
    first_sentence: str
    recipe: list[str] = field(default_factory=list)


def _place(rng: random.Random) -> str:
    return rng.choice(PLACES) + rng.choice(PLACE_KINDS)


def _issue(rng: random.Random) -> tuple[str, str]:
    text, short = rng.choice(ISSUES)
    return text.format(place="", amount=rng.choice([88, 128, 199, 288, 399])), short


def _greeting(rng: random.Random) -> str:
    return rng.choice(["您好：\n\n", "孙先生您好：\n\n", "贵公司负责人：\n\n", "各位领导：\n\n", "你好，\n\n", ""])


def _customer_number(rng: random.Random) -> tuple[str | None, str]:
    """A customer's number as the story writes it (truth, words), or none."""
    roll = rng.random()
    if roll < 0.45:
        return None, ""
    if roll < 0.75:
        phone = _mobile(rng)
        owner = rng.choice(["其手机号码", "用户号码：", "业主王女士（手机", "读者张先生的号码是", "涉及号码"])
        close = "）" if owner.endswith("（手机") else ""
        return phone.digits, f"{owner}{phone.written}{close}，"
    account = rng.choice(["wh", "ad", "027", "hb"]) + "".join(rng.choice("0123456789") for _ in range(9))
    label = rng.choice(["宽带账号为", "宽带账号：", "其宽带帐号是"])
    return account, f"{label}{account}，"


def _media_original(rng: random.Random, category: int, relay_from: str | None = None) -> Original:
    """A journalist's complaint: category 2, 3 or 5 (their own line, others, a small question)."""
    name = _person(rng)
    outlet, writings, domain = rng.choice(OUTLETS)
    written = rng.choice(writings)
    desk = rng.choice(DESKS)
    phone = _mobile(rng) if rng.random() < 0.75 else _landline(rng)
    second = _landline(rng) if phone.digits.startswith("1") and rng.random() < 0.2 else None
    recipe = [f"media:{category}"]
    intro, intro_kind = _self_introduction(rng, name, written, desk)
    recipe.append(f"intro:{intro_kind}")
    story, customer, subject = _media_story(rng, category)
    recipe.append("customer" if customer else "no-customer")
    phone_in_body = rng.random() < 0.2
    body_phone = rng.choice([f"我的电话是{phone.written}，请尽快联系我。", f"联系电话：{phone.written}",
                             f"请致电{phone.written}与我联系。"]) if phone_in_body else ""
    sign_off, signed_kind, signed_phone = _sign_off(rng, name, written, desk, phone, second,
                                                    phone_in_body=phone_in_body, named=intro_kind != "none")
    recipe.append(f"signoff:{signed_kind}")
    has_phone = phone_in_body or signed_phone
    request = rng.choice(["请贵公司尽快核实并回复。", "请于今天下午5点前答复。", "盼复。", "请告知处理意见。", ""])
    body = _greeting(rng) + intro + story + request + ("\n\n" + body_phone if body_phone else "") + "\n\n" + sign_off + "\n"
    display, email = _journalist_address(rng, name, outlet, domain)
    recipe.append(f"display:{display!r}")
    mentions_outlet = intro_kind not in ("none", "name-only") or signed_kind in ("outlet-lines", "outlet-inline",
                                                                                 "dash", "valediction", "bar")
    if not mentions_outlet and outlet not in display and domain not in KNOWN_DOMAINS:
        # Named nowhere else: the outlet must be knowable from the mail (its domain is unknown).
        body = body.rstrip("\n") + f"\n{written}\n"
    first = story.split("，")[0] if story else intro
    return Original(display, email, subject, body, _sent(rng), name, phone.digits if has_phone else None,
                    customer, category, outlet, first, recipe)


def _self_introduction(rng: random.Random, name: str, outlet: str, desk: str) -> tuple[str, str]:
    forms = [
        (f"我是{outlet}记者{name}。", "outlet-role-name"),
        (f"我是{outlet}{desk}记者{name}，", "desk"),
        (f"我叫{name}，是{outlet}的一名记者。", "wo-jiao"),
        (f"本人{name}，{outlet}记者。", "ben-ren"),
        (f"我是{name}，{outlet}的记者，", "wo-shi-name"),
        (f"{outlet}记者{name}向贵公司反映：", "third-person"),
        (f"这里是{outlet}，我是记者{name}。", "zhe-li-shi"),
        (f"我是{outlet}的首席记者{name}，", "title"),
        ("", "none"),
        (f"我是{outlet}的编辑{name}，", "editor"),
    ]
    return rng.choice(forms)


def _media_story(rng: random.Random, category: int) -> tuple[str, str | None, str]:
    place = _place(rng)
    issue, short = _issue(rng)
    if category == 3:
        group = rng.choice(GROUPS)
        number, number_words = _customer_number(rng)
        story = rng.choice([
            f"近日{place}多位{group}{rng.choice(TELL)}，{issue}。{number_words}我们准备近期做一篇报道。",
            f"接到{place}{group}{rng.choice(TELL)}称，{issue}，影响很大。{number_words}",
            f"{place}的{group}向本报{rng.choice(TELL)}，{issue}。{number_words}本报拟于明日刊发相关报道，",
            f"受报社领导指派，我们正在调查{place}{short}的问题：{issue}。{number_words}",
            f"有{group}打来新闻热线，说{place}{issue}。{number_words}我们想做一期专题。",
        ])
        return story, number, f"{place}{short}" + rng.choice(["", "的采访函", "问题", "的采访请求"])
    if category == 2:
        own = rng.choice(["我家的宽带", "我的手机", "我们报社的专线", "我们编辑部的固话", "本人的手机号"])
        number, words = None, ""
        roll = rng.random()
        if roll < 0.5:
            phone = _mobile(rng) if "手机" in own else _landline(rng)
            number, words = phone.digits, f"（号码{phone.written}）"
        elif roll < 0.7:
            number = "wh" + "".join(rng.choice("0123456789") for _ in range(10))
            words = f"（账号{number}）"
        story = f"{own}{words}最近{issue.split('，')[0]}，{rng.choice(['多次报修无果。', '客服一直推诿。', '严重影响工作。'])}"
        return story, number, rng.choice([f"我家{short}", f"本人{short}问题", f"{short}，请处理"])
    topic = rng.choice(MINOR_TOPICS)
    story = rng.choice([
        f"想咨询一下贵公司{topic}，不着急，方便时回复即可。",
        f"有个小问题请教：{topic}是怎样的？有空时回复一下就行。",
        f"顺便问一下{topic}，谢谢。",
    ])
    return story, None, rng.choice(["咨询", "请教", "询问"]) + topic


def _sign_off(rng: random.Random, name: str, outlet: str, desk: str, phone: Phone, second: Phone | None,
              phone_in_body: bool, named: bool) -> tuple[str, str, bool]:
    """(the sign-off, its layout, whether it carries the phone)."""
    bare = outlet.strip("《》")
    tel = "" if phone_in_body else phone.written
    other = f"\n电话：{second.written}" if second and not phone_in_body else ""
    forms = [
        (f"{name}\n{bare}{desk}\n手机：{tel}{other}" if tel else f"{name}\n{bare}{desk}", "outlet-lines"),
        (f"{bare} {name}\n电话：{tel}" if tel else f"{bare} {name}", "outlet-inline"),
        (f"—— {name}（{bare}）\n{tel}".rstrip(), "dash"),
        (f"此致\n敬礼！\n\n{bare}记者 {name}\n2026年11月27日" + (f"\n联系电话：{tel}" if tel else ""), "valediction"),
        (f"{name} | {bare} | {tel}".rstrip(" |"), "bar"),
        (f"{name}\nTel: {tel}" if tel else name, "tel"),
        (f"谢谢！\n{name}" + (f"\n手机 {tel}" if tel else ""), "thanks"),
        (f"记者：{name}\n联系电话：{tel}" if tel else f"记者：{name}", "typed"),
    ]
    text, kind = rng.choice(forms)
    return text, kind, bool(tel)


def _journalist_address(rng: random.Random, name: str, outlet: str, domain: str | None) -> tuple[str, str]:
    local = rng.choice(PINYIN) + rng.choice(["", ".", "_"]) + rng.choice(["news", "jz", "reporter", "ming", "hb"]) + str(rng.randint(1, 99))
    email = f"{local}@{domain or rng.choice(FREE_MAIL)}"
    display = rng.choice([name, name, name, f"{outlet} {name}", f"{name}（{outlet}）", "", f"{outlet}新闻热线"])
    return display, email


def _customer_original(rng: random.Random) -> Original:
    """Category 1: a customer who says they will go, or went, to the media."""
    name = _person(rng)
    outlet, writings, _ = rng.choice(OUTLETS)
    written = rng.choice(writings).strip("《》")
    issue, short = _issue(rng)
    own = _mobile(rng)
    contact = _mobile(rng) if rng.random() < 0.5 else None
    intro = rng.choice([f"我叫{name}，是贵公司的老用户，", f"我是你们的用户{name}，", "我是贵公司的客户，", ""])
    threat = rng.choice([
        f"如果明天还不解决，我就向{written}反映。", f"再不处理我就找{written}曝光。",
        f"我已经联系了{written}的记者，", f"我准备把这件事告诉{written}，",
        f"不行我只能去找{written}，让大家评评理。",
    ])
    number_words = rng.choice([f"我的手机号码是{own.written}，", f"号码{own.written}，", f"我的号码：{own.written}，"])
    contact_words = rng.choice([f"请尽快联系我，电话{contact.written}。", f"联系电话：{contact.written}"]) if contact else ""
    body = (_greeting(rng) + intro + number_words + issue + "。" + threat + contact_words + "\n\n"
            + rng.choice([name, f"{name}\n2026年11月27日", f"客户 {name}", f"此致\n{name}"]) + "\n")
    email = rng.choice(PINYIN) + str(rng.randint(100, 9999)) + "@" + rng.choice(FREE_MAIL)
    display = rng.choice([name, name, ""])
    phone = contact.digits if contact else None
    return Original(display, email, f"{short}，再不解决就找媒体", body, _sent(rng), name, phone, own.digits, 1,
                    outlet, issue.split("，")[0], ["customer:1"])


def _relay_original(rng: random.Random) -> Original:
    """Category 4: a provincial office or an authority passes a journalist's complaint on."""
    inner = _media_original(rng, 3)
    authority = rng.choice(AUTHORITIES)
    outlet = inner.outlet or "江城晚报"
    phone = _mobile(rng)
    with_phone = rng.random() < 0.5
    issue, short = _issue(rng)
    clerk = _person(rng)
    body = (f"{rng.choice(['江城分公司：', '各相关单位：', '你公司：'])}\n\n"
            f"现将{outlet}记者{inner.reporter}反映的{short}问题{rng.choice(['转你公司', '转办', '转来'])}，"
            f"{issue}。" + (f"记者电话：{phone.written}。" if with_phone else "")
            + "请于今日内核实处理并反馈结果。\n\n"
            f"{authority}\n经办人：{clerk} 027-{rng.randint(2000, 8999)}{rng.randint(1000, 9999)}\n")
    return Original(authority, f"kf{rng.randint(1, 99)}@prov.example.com", f"转办：{short}", body, _sent(rng),
                    inner.reporter, phone.digits if with_phone else None, None, 4, outlet,
                    f"现将{outlet}记者", ["relay:4"])


def _sent(rng: random.Random) -> datetime:
    return datetime(2026, 11, rng.randint(20, 27), rng.randint(7, 21), rng.randint(0, 59), tzinfo=CST)


# --- the forwarder's note ---------------------------------------------------------------------------

_CN = {1: "一", 2: "二", 3: "三", 4: "四", 5: "五"}


def _category_phrase(rng: random.Random, n: int) -> str:
    cn, digit = _CN[n], str(n)
    return rng.choice([
        f"请按{cn}类媒体投诉登记。", f"属第{cn}类。", f"{cn}类投诉，请处理。", f"按第{digit}类处理。",
        f"类别：{digit}", f"类别: {cn}", f"请按第{cn}类登记", f"此件为{cn}类媒体投诉。", f"定为{cn}类。",
        f"投诉类别：{digit}", f"建议按{digit}类媒体投诉处理。", f"属于第{digit}类，请登记。",
    ])


INSTRUCTIONS = ["请评估处理。", "请尽快核实回复。", "转综合部登记。", "请网络部跟进。", "请市场部协助核实。",
                "麻烦尽快处理。", "请登记并跟进。", "Please register this one.", "FYI，请关注。", "请按流程处理。"]


def _note(rng: random.Random, category: int | None, forwarder: tuple[str, str]) -> tuple[str, str, bool, list[str]]:
    """(note with signature, its key sentence, whether it states the category, recipe)."""
    greeting = rng.choice(["", "王经理：\n", "各位：\n", "刘洋：\n", "Hi,\n"])
    sentence = rng.choice(INSTRUCTIONS)
    states = category is not None and rng.random() < 0.45
    phrase = _category_phrase(rng, category) if states and category else ""
    words = greeting + sentence + ("\n" + phrase if phrase and rng.random() < 0.5 else phrase)
    signature, kind = _forwarder_signature(rng, forwarder)
    return words + ("\n\n" + signature if signature else ""), sentence, states, [f"note:{'stated' if states else 'silent'}", f"fsig:{kind}"]


DISCLAIMERS = [
    "本邮件及其附件含有江城通信公司的保密信息，仅限于发送给上面地址中列出的个人或群组。禁止任何其他人以任何形式使用本邮件中的信息。如果您错收了本邮件，请您立即电话或邮件通知发件人并删除本邮件！",
    "This e-mail and any attachments are confidential and intended solely for the addressee. If you are not the intended recipient, please notify the sender and delete it.",
    "【免责声明】此邮件仅供收件人使用，未经许可不得转发。",
]


def _forwarder_signature(rng: random.Random, forwarder: tuple[str, str]) -> tuple[str, str]:
    name, email = forwarder
    dept = FORWARDER_DEPTS[email.split("@")[1].split(".")[0]]
    office, mobile = _landline(rng), _mobile(rng)
    forms = [
        (f"{name}\n{dept}\n电话：{office.written}\n手机：{mobile.written}", "lines"),
        (f"{name} | {dept} 主管 | {office.written}", "bar"),
        (f"--\n{name}\n江城通信公司 {dept}\nTel: {office.written}\nMobile: {mobile.written}\nEmail: {email}", "dashdash"),
        (f"Best regards,\n{name}\n{dept}\nM: {mobile.written}", "english"),
        (f"{name}\n{dept} 值班经理\n手机 {mobile.written}\n\n{rng.choice(DISCLAIMERS)}", "disclaimer"),
        (f"{name}（{dept}）手机 {mobile.written}", "one-line"),
        ("发自我的iPhone", "iphone"),
        ("", "none"),
        (f"谢谢！\n{name}\n{dept}\n座机：{office.written}", "thanks"),
    ]
    return rng.choice(forms)


# --- clients: how a forward lays the original out ------------------------------------------------


def _fmt(sent: datetime, style: str) -> str:
    week = "一二三四五六日"[sent.weekday()]
    hour12 = sent.hour % 12 or 12
    ampm_zh = "上午" if sent.hour < 12 else "下午"
    ampm = "AM" if sent.hour < 12 else "PM"
    return {
        "outlook_zh": f"{sent:%Y年%m月%d日} 星期{week} {sent:%H:%M}",
        "outlook_en": f"{sent:%A, %B} {sent.day}, {sent.year} {hour12}:{sent:%M} {ampm}",
        "foxmail": f"{sent:%Y年%m月%d日}(星期{week}) {ampm_zh}{hour12}:{sent:%M}",
        "coremail": f"{sent:%Y-%m-%d %H:%M:%S}",
        "gmail_zh": f"{sent.year}年{sent.month}月{sent.day}日周{week} {ampm_zh}{hour12}:{sent:%M}",
        "gmail_en": f"{sent:%a, %b} {sent.day}, {sent.year} at {hour12}:{sent:%M}\u202f{ampm}",
        "thunderbird_zh": f"{sent:%Y/%m/%d %H:%M}",
        "rfc": format_datetime(sent),
        "apple_en": f"{sent:%B} {sent.day}, {sent.year} at {hour12}:{sent:%M}:00 {ampm} GMT+8",
        "apple_zh": f"{sent.year}年{sent.month}月{sent.day}日 GMT+8 {ampm_zh}{hour12}:{sent:%M}:00",
    }[style]


def _block(client: str, o: Original, to: str) -> tuple[str, str]:
    """(the separator and header block above the original's body, the end after it)."""
    who = f"{o.sender_name} <{o.sender_email}>" if o.sender_name else o.sender_email
    s = o.sent_at
    if client == "outlook_zh":
        sep = "-----邮件原件-----" if s.minute % 2 else "-----原始邮件-----"
        mailto = f"{o.sender_name} [mailto:{o.sender_email}]" if o.sender_name else o.sender_email
        return f"{sep}\n发件人: {mailto} \n发送时间: {_fmt(s, 'outlook_zh')}\n收件人: {to}\n主题: {o.subject}\n\n", ""
    if client == "outlook_en":
        mailto = f"{o.sender_name} [mailto:{o.sender_email}]" if o.sender_name else o.sender_email
        return (f"-----Original Message-----\nFrom: {mailto} \nSent: {_fmt(s, 'outlook_en')}\nTo: {to}\n"
                f"Subject: {o.subject}\n\n"), ""
    if client == "outlook_rule":
        return (f"{'_' * 32}\n发件人: {who}\n发送时间: {_fmt(s, 'outlook_zh')}\n收件人: {to}\n主题: {o.subject}\n\n"), ""
    if client == "foxmail":
        quoted = f'"{o.sender_name}"<{o.sender_email}>;' if o.sender_name else f"<{o.sender_email}>;"
        return (f"------------------ 原始邮件 ------------------\n发件人: {quoted}\n发送时间: {_fmt(s, 'foxmail')}\n"
                f'收件人: "孙明"<{to}>;\n\n主题: {o.subject}\n\n'), ""
    if client == "coremail":
        quoted = f'"{o.sender_name}" <{o.sender_email}>' if o.sender_name else o.sender_email
        return f"----- 原始邮件 -----\n发件人：{quoted}\n发送时间：{_fmt(s, 'coremail')}\n收件人：{to}\n主题：{o.subject}\n\n", ""
    if client == "gmail_zh":
        return f"---------- 转发的邮件 ---------\n发件人： {who}\n日期：{_fmt(s, 'gmail_zh')}\n主题：{o.subject}\n收件人： <{to}>\n\n\n", ""
    if client == "gmail_en":
        return f"---------- Forwarded message ---------\nFrom: {who}\nDate: {_fmt(s, 'gmail_en')}\nSubject: {o.subject}\nTo: <{to}>\n\n\n", ""
    if client == "thunderbird_zh":
        return f"-------- 转发的消息 --------\n主题：\t{o.subject}\n日期：\t{_fmt(s, 'thunderbird_zh')}\n发件人：\t{who}\n收件人：\t{to}\n\n\n", ""
    if client == "thunderbird_en":
        return f"-------- Forwarded Message --------\nSubject: \t{o.subject}\nDate: \t{_fmt(s, 'rfc')}\nFrom: \t{who}\nTo: \t{to}\n\n\n", ""
    if client == "apple_en":
        return f"Begin forwarded message:\n\nFrom: {who}\nSubject: {o.subject}\nDate: {_fmt(s, 'apple_en')}\nTo: {to}\n\n", ""
    if client == "apple_zh":
        return f"以下为转发的邮件：\n\n发件人: {who}\n主题: {o.subject}\n日期: {_fmt(s, 'apple_zh')}\n收件人: {to}\n\n", ""
    if client == "mutt":
        return (f"----- Forwarded message from {who} -----\n\nDate: {_fmt(s, 'rfc')}\nFrom: {who}\nTo: {to}\n"
                f"Subject: {o.subject}\nMessage-ID: <{s:%Y%m%d%H%M}.orig@example.cn>\nMIME-Version: 1.0\n"
                f"Content-Type: text/plain; charset=utf-8\nContent-Disposition: inline\nContent-Transfer-Encoding: 8bit\n"
                f"User-Agent: NeoMutt/20231103\n\n"), "\n----- End forwarded message -----\n"
    if client == "snail":
        return (f"-------- Original Message --------\nFrom: {who}\nTo: {to}\nSubject: {o.subject}\nDate: {_fmt(s, 'rfc')}\n"
                f"Message-ID: <{s:%Y%m%d%H%M}.orig@example.cn>\nMIME-Version: 1.0\n"
                f"Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\nStatus: R\n\n"), ""
    raise ValueError(client)


INLINE_CLIENTS = ["outlook_zh", "outlook_en", "outlook_rule", "foxmail", "coremail", "gmail_zh", "gmail_en",
                  "thunderbird_zh", "thunderbird_en", "apple_en", "apple_zh", "mutt", "snail"]
CHARSETS = ["utf-8", "gbk", "gb2312", "gb18030"]


def _inline(client: str, note: str, o: Original, to: str) -> str:
    head, tail = _block(client, o, to)
    if client == "snail":  # s-nail: the forwarder types under the original
        return head + o.body + ("\n" + note + "\n" if note else "")
    return (note + "\n\n" if note else "") + head + o.body + tail


# --- MIME --------------------------------------------------------------------------------------------


def _word(text: str, charset: str) -> str:
    if text.isascii():
        return text
    label = "gb2312" if charset == "gb2312" else charset
    encoding = "gbk" if charset == "gb2312" else charset
    return f"=?{label}?B?{base64.b64encode(text.encode(encoding)).decode('ascii')}?="


def _mailbox(name: str, email: str, charset: str) -> str:
    return f"{_word(name, charset)} <{email}>" if name else email


def _body_part(text: str, charset: str, rng: random.Random, html_only: bool) -> tuple[str, bytes]:
    """(Content-Type and -Transfer-Encoding header lines, the encoded body)."""
    encoding = "gbk" if charset == "gb2312" else charset  # gb2312 labels on GBK text, as Outlook sends
    subtype = "plain"
    if html_only:
        subtype = "html"
        text = "<html><body>" + "".join(f"<p>{html.escape(line) or '&nbsp;'}</p>" for line in text.split("\n")) + "</body></html>"
    if encoding != "utf-8":
        text = text.replace("\u202f", " ")  # Gmail's narrow space is no GBK character: its mail is UTF-8
    data = text.encode(encoding)
    cte = rng.choice(["base64", "quoted-printable", "8bit"])
    if cte == "base64":
        payload = "\n".join(textwrap.wrap(base64.b64encode(data).decode("ascii"), 76)).encode("ascii")
    elif cte == "quoted-printable":
        payload = quopri.encodestring(data)
    else:
        payload = data
    header = f"Content-Type: text/{subtype}; charset=\"{charset}\"\nContent-Transfer-Encoding: {cte}\n"
    return header, payload


def _message(headers: dict[str, str], body: bytes, content_headers: str) -> bytes:
    head = "".join(f"{k}: {v}\n" for k, v in headers.items()) + "MIME-Version: 1.0\n" + content_headers
    return head.encode("ascii") + b"\n" + body + b"\n"


def _original_message(o: Original, to: str, rng: random.Random) -> bytes:
    charset = rng.choice(CHARSETS)
    content, payload = _body_part(o.body, charset, rng, html_only=rng.random() < 0.1)
    return _message({"From": _mailbox(o.sender_name, o.sender_email, charset), "To": to,
                     "Subject": _word(o.subject, charset), "Date": format_datetime(o.sent_at),
                     "Message-ID": f"<{rng.randint(10**8, 10**9)}@{o.sender_email.split('@')[1]}>"}, payload, content)


def _forward_headers(forwarder: tuple[str, str], subject: str, sent: datetime, charset: str, rng: random.Random) -> dict[str, str]:
    prefix = rng.choice(["转发: ", "转发：", "Fw: ", "FW: ", "Fwd: ", "Fwd: "])
    return {"From": _mailbox(forwarder[0], forwarder[1], charset), "To": MAILBOX,
            "Subject": _word(prefix + subject, charset), "Date": format_datetime(sent),
            "Message-ID": f"<fwd.{rng.randint(10**8, 10**9)}@corp.example.com>"}


# --- assembling one mail ----------------------------------------------------------------------------


def _story(rng: random.Random) -> Original:
    roll = rng.random()
    if roll < 0.12:
        return _customer_original(rng)
    if roll < 0.22:
        return _relay_original(rng)
    category = rng.choices([3, 2, 5], weights=[6, 2, 1.5])[0]
    return _media_original(rng, category)


INNER_NOTES = ["请看下面这封。", "这个请你们处理一下。", "转给你，请跟进。", "省公司转来的媒体投诉，请处理。",
               "Please handle."]


def invent_one(rng: random.Random) -> InventedMail:
    """One mail: a story, a shape (inline, attached, nested, direct), a client, a charset."""
    o = _story(rng)
    shape = rng.choices(["inline", "attached", "nested", "direct"], weights=[60, 14, 14, 12])[0]
    if shape == "direct" and o.category == 4:
        shape = "inline"
    forwarder = rng.choice(FORWARDERS)
    inner_note = rng.choice(INNER_NOTES) if shape == "nested" else ""
    if "省公司" in inner_note:
        o.category = 4  # passed down: the provincial company sent it on
    note, sentence, states, recipe = _note(rng, o.category, forwarder)
    correction = None
    if shape != "direct" and o.category != 1 and rng.random() < 0.08:
        correction = _person(rng)  # the forwarder corrects the reporter's name in a typed line
        words, _, rest = note.partition("\n\n")
        note = f"{words}\n记者：{correction}" + (f"\n\n{rest}" if rest else "")
        recipe.append("typed-correction")
    sent = o.sent_at + timedelta(minutes=rng.randint(40, 120))
    charset = rng.choice(CHARSETS)
    headers = _forward_headers(forwarder, o.subject, sent, charset, rng)
    if shape == "direct":
        raw, client, note, sentence, states = _original_message(o, MAILBOX, rng), "direct", "", "", False
    elif shape == "attached" or (shape == "nested" and rng.random() < 0.3):
        inner = o
        client = "attached"
        if shape == "nested":
            inner_client = rng.choice([c for c in INLINE_CLIENTS if c != "snail"])
            inner = _middle(rng, o, inner_note, inner_client, forwarder)
            client = f"attached>{inner_client}"
        raw = _attached(rng, headers, note, _original_message(inner, forwarder[1], rng), charset)
    else:
        inner, client = o, rng.choice(INLINE_CLIENTS)
        if shape == "nested":
            inner_client = rng.choice([c for c in INLINE_CLIENTS if c != "snail"])
            inner = _middle(rng, o, inner_note, inner_client, forwarder)
            client = f"{client}>{inner_client}"
        text = _inline(client.split(">")[0], note, inner, forwarder[1])
        html_only = rng.random() < 0.12 and client.split(">")[0] in ("outlook_zh", "outlook_en", "coremail", "foxmail")
        content, payload = _body_part(text, charset, rng, html_only)
        raw = _message(headers, payload, content)
    truth = Truth(
        reporter=correction or o.reporter, phone=o.phone, customer_number=o.customer_number,
        category=o.category, basis="stated" if states else ("judged" if o.category else None),
        sender_email=o.sender_email, sent_at=o.sent_at, subject=o.subject, outlet=o.outlet,
        note=sentence, original_words=o.first_sentence,
    )
    recipe_text = " ".join([shape, client, charset, *o.recipe, *recipe] + ([f"inner-note:{inner_note}"] if inner_note else []))
    return InventedMail(raw, truth, client, recipe_text, sent + timedelta(minutes=2))


def _middle(rng: random.Random, o: Original, inner_note: str, inner_client: str, outer: tuple[str, str]) -> Original:
    """The intermediate forward: another staff member forwarded the original to the forwarder."""
    middle = rng.choice([f for f in FORWARDERS if f[1] != outer[1]])
    body = _inline(inner_client, inner_note, o, middle[1])
    prefix = rng.choice(["转发: ", "Fw: ", "FW: ", "Fwd: "])
    return Original(middle[0], middle[1], prefix + o.subject, body, o.sent_at + timedelta(minutes=rng.randint(5, 30)),
                    None, None, None, None, None, "")


def _attached(rng: random.Random, headers: dict[str, str], note: str, inner: bytes, charset: str) -> bytes:
    """A forward as attachment: the note as the first part, the original as message/rfc822."""
    outer_content, outer_payload = _body_part(note, charset, rng, html_only=False)
    boundary = f"b{rng.randint(10**6, 10**7)}"
    disposition = rng.choice(["inline", "attachment; filename=\"original.eml\""])
    body = (f"--{boundary}\n".encode() + outer_content.encode() + b"\n" + outer_payload + b"\n"
            + f"--{boundary}\nContent-Type: message/rfc822\nContent-Disposition: {disposition}\n\n".encode()
            + inner + f"\n--{boundary}--\n".encode())
    return _message(headers, body, f'Content-Type: multipart/mixed; boundary="{boundary}"\n')


def invent(count: int, seed: int = 11) -> list[InventedMail]:
    """`count` invented complaint mails, the same ones for the same seed."""
    rng = random.Random(seed)
    return [invent_one(rng) for _ in range(count)]
