"""Media outlets' names (媒体单位) as people write them in mail.

An outlet's name ends in a word that says what it is — 报 (晚报, 日报, 都市报, 报社), 台 (电视台,
广播电视台), 广播, 之声, 卫视, 经视, 网 (荆楚网, 人民网), 新闻 (澎湃新闻), 杂志, 周刊, 传媒,
融媒体中心, 频道 — and is followed in sign-offs by a desk (社会新闻部, 编辑部, 新闻中心).
`outlet_name()` reads one from the start of a run of characters: the desk goes, the name runs
to its first such word, with at least two characters before it ("电视台" alone names none).
"报" is no outlet when a verb follows it (报道, 报料, 报修 …), nor "网" when it is the network
(网络, 网速, 网民 …). "…报社" is written for "…报" (江城晚报社 is 江城晚报) and becomes it.

The config's directory (models/directory.py) knows some outlets by name, alias and domain; this
module reads the many it does not know, for the record's 媒体单位.
"""

from __future__ import annotations

import re

_SUFFIX = re.compile(
    r"广播电视台|廣播電視台|电视台|電視台|广播电台|廣播電台|电台|電台|广播|廣播|之声|之聲|卫视|衛視|经视|經視|"
    r"新闻网|新聞網|新闻|新聞|杂志社|雜誌社|杂志|雜誌|周刊|週刊|传媒|傳媒|融媒体中心|融媒體中心|频道|頻道|"
    r"报社|報社|报(?![道料修警告名销装价案备送批复到纸刊])|報(?![道料修警告名銷裝價案備送批復到紙刊])|"
    r"网(?![络絡速费費点點格上页頁民友购購线線卡关關])|網(?![络絡速费費点點格上页頁民友购購线線卡关關])"
)
_NEWS_AGENCIES = ("新华社", "新華社", "中新社")
# A desk at the end of a sign-off line: "江城晚报社会新闻部", "荆楚网民生新闻部", "…新闻中心".
_DESK = re.compile(
    r"(?:社会新闻|民生新闻|时政新闻|经济新闻|新闻|编辑|热线|要闻|经济|时政|民生|专题|采访|新媒体|评论|文体|财经|科技|"
    r"都市|视频|调查|深度报道|法治|城市|摄影|夜班编辑|记者|社會新聞|新聞|編輯|熱線)部$|(?:新闻|新聞|编辑|編輯|全媒体)中心$"
)
_EDGE = "《》 \t"


def outlet_name(run: str) -> str | None:
    """The outlet a run of characters starts with ("江城晚报社会新闻部" → 江城晚报), or None."""
    run = _DESK.sub("", run.strip(_EDGE)[:30]).strip(_EDGE)
    for agency in _NEWS_AGENCIES:
        if run.startswith(agency):
            return agency
    for suffix in _SUFFIX.finditer(run):
        if suffix.start() < 2:
            continue
        name = run[: suffix.end()]
        return name[:-1] if name.endswith(("报社", "報社")) else name
    return None
