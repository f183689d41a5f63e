"""Personal names (姓名) in Chinese mail: is a short string a person's name, and which part.

A registration record names the journalist or customer (记者 / 联系人). Mail shows names in
display names ("李明 <li@…>"), sign-offs ("李明\\n江城晚报"), self-introductions ("我叫王芳")
— and shows the names of units in the same places ("江城晚报社会新闻部", "省公司综合部"). A
name here is a surname (姓, from the list below: the common single ones, in simplified and
traditional forms, and the compound ones) and one or two given-name characters, or a surname
with a form of address ("李记者", "王女士", "Li Ming" in pinyin). Characters that name units,
places or grammar (部, 报, 市, 的, 是 …) never occur in one.
"""

from __future__ import annotations

import re

# 百家姓: the single surnames that cover nearly all people today, simplified then traditional.
_SINGLE_SURNAMES = frozenset(
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁"
    "任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付傅方白邹孟熊秦邱江尹薛闫阎段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃"
    "武戴莫孔向汤常温康施文牛樊葛邢安齐易乔伍庞颜倪庄聂章鲁岳翟殷詹申欧耿关兰焦俞左柳甘祝包宁尚符舒阮"
    "柯纪梅童凌毕单季裴霍涂成苗谷盛曲翁冉骆蓝路游辛靳管柴蒙鲍华喻祁蒲房滕屈饶解牟艾尤阳时穆农司卓古吉"
    "缪简车项连芦麦褚娄窦戚岑景党宫费卜冷晏席卫米柏宗瞿桂全佟应臧闵苟邬边卞姬师仇栾隋商刁沙荣巫寇桑郎"
    "甄丛仲虞敖巩明佘池查麻苑迟邝官封谈匡鞠惠荆乐冀郁胥南班储原栗燕楚鄢劳谌奚皮粟冼蔺楼盘满闻位厉伊仝"
    "区郜阚花权帅屠豆朴盖练廉禹井祖漆巴丰支卿国狄计索宣晋相初门云容敬来扈晁芮普阙浦戈伏鹿薄邸雍辜羊"
    "乌母裘亓修邰赫杭况宿鲜印逯隆茹诸战慕危亢嵇湛宾戎勾茅於揭尉冶束檀衣展昝智幸奉植衡尧"
    "張劉陳楊黃趙吳孫馬鄭謝許韓馮鄧蕭董蔣葉蘇呂盧鍾譚陸賈韋鄒閆閻雷龍賀顧龔萬錢嚴湯溫齊喬龐顏莊聶魯"
    "歐關蘭寧紀畢單駱藍鮑饒農繆簡車項連蘆麥婁竇黨宮費衛應臧閔鄔邊師欒榮叢鞏遲鄺談鞠樂儲鄢勞諶藺樓盤"
    "滿聞厲區闞權帥蓋練豐國計晉門雲來闕"
)
_COMPOUND_SURNAMES = frozenset(
    ["欧阳", "司马", "上官", "诸葛", "东方", "皇甫", "尉迟", "公孙", "慕容", "令狐", "夏侯", "长孙", "宇文", "司徒",
     "端木", "百里", "呼延", "南宫", "西门", "独孤", "轩辕", "申屠", "太史", "闻人", "澹台", "公冶", "濮阳", "淳于",
     "单于", "钟离", "宗政", "拓跋", "万俟", "歐陽", "司馬", "諸葛", "東方", "長孫", "鍾離", "軒轅"]
)
# Characters that name units, places, roles or grammar: no given name is made of them.
_NEVER_IN_A_NAME = frozenset(
    "部局司厅报報台社网網组組科处處室所院站店队隊会會办辦市省县縣镇鎮村路街楼樓号號码碼机機话話记記者"
    "的了是在我你他她们們您这這那个個位该該其请請谢謝问問敬礼禮致此及或为為因但而就也还還要对對从從"
    "把被让讓给給已经經吗嗎呢吧啊哦嗯呀收到转轉件邮郵箱电電视視频頻线線"
    "热熱户戶服务務营營业業厅廳投诉訴反于於区區宽寬带帶络絡故障题"
)  # not 小, 中, 心, 信, 华, 正, 可, 发 …: given names have them (小燕, 王中, 李信)
# Forms of address written after a surname in place of the given name ("李记者", "王女士").
_ADDRESS_FORMS = ("记者", "記者", "先生", "女士", "小姐", "老师", "老師", "经理", "經理", "主任", "编辑", "編輯", "总", "總", "工")
_HAN = re.compile(r"[\u4e00-\u9fff]+")
# Words that begin right after a name in running text ("李明向贵公司…", "王芳来电…"): before one
# of these, a name of two characters is read rather than three.
_FOLLOWS_A_NAME = "是为系在和与向的来说反打致就想现今昨前从代表受特到已也同将要对给称告表等"
_PINYIN_NAME = re.compile(r"[A-Z][a-z]{0,6}(?: [A-Z][a-z]{1,10}){1,2}")


def surname_length(text: str) -> int:
    """How many characters of `text` are a surname: 2, 1 or 0."""
    if text[:2] in _COMPOUND_SURNAMES:
        return 2
    return 1 if text[:1] in _SINGLE_SURNAMES else 0


def is_person_name(text: str) -> bool:
    """True for a Chinese name (姓 + 1–2 characters, or 姓 + a form of address) or a pinyin one."""
    text = text.strip()
    if _PINYIN_NAME.fullmatch(text):
        return not any(word in text.lower() for word in ("news", "daily", "evening", "times", "media", "tv"))
    if not _HAN.fullmatch(text) or not 2 <= len(text) <= 4:
        return False
    surname = surname_length(text)
    rest = text[surname:]
    if surname == 0 or not rest:
        return False
    if rest in _ADDRESS_FORMS:
        return True
    return len(rest) <= 2 and not any(ch in _NEVER_IN_A_NAME for ch in rest)


def leading_name(text: str) -> str | None:
    """The person's name that `text` starts with ("王芳，是一名记者" → "王芳"), or None.

    The longest reading wins when the characters after it cannot continue a name (punctuation,
    a role word, the end); otherwise the shorter one: "李明明天" is ambiguous, "李明，" is not.
    """
    head = text[:6]
    surname = surname_length(head)
    if surname == 0:
        return None
    for form in _ADDRESS_FORMS:
        if head[surname:].startswith(form):
            return head[: surname + len(form)]
    for given in (2, 1):
        candidate = head[: surname + given]
        if len(candidate) == surname + given and is_person_name(candidate):
            following = text[surname + given: surname + given + 1]
            if not following or not _HAN.fullmatch(following) or following in _FOLLOWS_A_NAME:
                return candidate
            if given == 1 and following in _NEVER_IN_A_NAME:
                return candidate
    return None
