"""The words people read: the glossary of the Chinese domain terms, as complaintd writes them.

One thing has one name. `complaintd show`, the registration form (XLSX), the register export
(CSV/XLSX), the mails and the daily digest all take their labels from here, so a field, a
status, a clock or a mail reads the same wherever it is shown
(tests/unit/test_labels.py and tests/unit/test_completeness_labels.py keep it so).

Where the wording comes from: the seed procedure names the record's own parts (投诉内容、接收
部门、接收人员, 媒体投诉登记表, 统一的外部解释口径); for the other fields, the registration
form's wording; SPEC.md's for the rest. Reply commands (预计完成：…, 口径：…) are the words
people type, parsed by parsers/commands.py; they are not labels and stay short.

原发件人 is two fields, so it has two labels: 原发件人 is the display name the original mail
gave, 原发件人邮箱 its address. The name is only what the sender typed (often empty, or a
nickname); the address is what identifies and reaches them. Each label names one fact, as
the record (SPEC §5), `--json` and the export's columns keep them.

Terms, one a line:
  媒体投诉登记表   registration record / form: the case's fields below, in FIELD_LABELS
  媒体投诉相关记录 event log: every mail in and out, every state change (EVENT_LABELS)
  接收部门 / 接收人员 receiving department / receiver: who got it first and owns it (首问负责)
  转发人 / 转发人附言 who forwarded it to the mailbox / what they wrote above the original
  记者/联系人      the journalist or contact person the complaint names
  原发件人 / 原发件人邮箱 the forwarded original's sender: name / address
  客户经理         the media unit's account manager (媒体单位客户经理, A/B)
  处理方案 / 预计完成时间 the agreed solution / when it is expected to be complete
  对外解释口径     the unified external statement (统一解释口径), approved by the leaders
  办结 / 处理结果  resolution / what was done
  迟报             registered (or acted on) after a deadline had already passed
  时限             a clock of the procedure (CLOCK_LABELS); 到期 due, 完成 met, 超时 breached
  推测 / 注明      how the category was had: judged from the story / stated by a person
"""

from __future__ import annotations

from models.policy import Step
from models.types import CaseStatus, DeadlineKind, EventKind

# The registration record's fields (SPEC §5 names, and the record's own additions), labelled.
FIELD_LABELS: dict[str, str] = {
    "id": "编号",
    "status": "状态",
    "category": "投诉类别",
    "category_basis": "类别依据",
    "category_reason": "类别说明",
    "received_at": "接收时间",
    "registered_at": "登记时间",
    "receiving_dept": "接收部门",
    "receiver_email": "接收人员",
    "forwarder_email": "转发人",
    "forwarder_note": "转发人附言",
    "media_outlet": "媒体单位",
    "reporter_name": "记者/联系人",
    "original_from_name": "原发件人",
    "original_from_email": "原发件人邮箱",
    "original_sent_at": "原邮件时间",
    "original_subject": "原邮件主题",
    "phone": "联系电话",
    "customer_number": "客户号码",
    "complaint_text": "投诉内容",
    "attachments": "附件",
    "account_manager": "客户经理",
    "solution": "处理方案",
    "expected_completion_at": "预计完成时间",
    "statement": "对外解释口径",
    "resolved_at": "办结时间",
    "result": "处理结果",
    "late": "迟报",
}

# Keyed by CaseStatus; typed by str, since a stored status is its text (CaseStatus is a str).
STATUS_LABELS: dict[str, str] = {
    CaseStatus.REGISTERED: "已登记",
    CaseStatus.LOCAL: "部门内处理",
    CaseStatus.ACCOUNT_MANAGER: "客户经理介入",
    CaseStatus.GENERAL_DEPT: "综合部处理",
    CaseStatus.COMPANY_GROUP: "公司级小组处理",
    CaseStatus.RESOLVED: "已办结",
    CaseStatus.MAJOR: "转重大突发事件",
    CaseStatus.DISMISSED: "非媒体投诉",
}

# Each clock's name (SPEC §3): a register column is "<name>到期/完成/超时".
CLOCK_LABELS: dict[DeadlineKind, str] = {
    DeadlineKind.ASSESS: "评估答复",
    DeadlineKind.ACCOUNT_MANAGER: "告知媒体单位客户经理",
    DeadlineKind.GENERAL_DEPT: "上报综合部",
    DeadlineKind.SOLUTION: "报送解决方案",
    DeadlineKind.GROUP: "成立公司级处理小组",
    DeadlineKind.HIGHER_AUTHORITY: "上报上一级主管部门",
    DeadlineKind.PROGRESS: "动态报告",
    DeadlineKind.STATEMENT: "下发统一解释口径",
    DeadlineKind.ACK: "确认回复",
    DeadlineKind.NORMAL_COMPLETION: "正常流程办结",
}
# What a clock asks for, where a list of clocks tells people what to do by when.
CLOCK_HINTS: dict[DeadlineKind, str] = {
    DeadlineKind.ASSESS: "可处理/无法处理",
    DeadlineKind.GENERAL_DEPT: "附登记表",
}
CLOCK_PARTS = ("到期", "完成", "超时")  # due, met, breached
CLOCK_TABLE = ("时限", *CLOCK_PARTS, "备注")  # a list of clocks: which, its three times, 迟报

# The mails the procedure's steps send (models/policy.py Step), by what each is.
STEP_LABELS: dict[Step, str] = {
    Step.REGISTRATION: "登记回执",
    Step.ASSESS_OVERDUE: "评估答复超时提醒",
    Step.ACCOUNT_MANAGER: "告知媒体单位客户经理",
    Step.ACCOUNT_MANAGER_UNKNOWN: "请综合部指定客户经理",
    Step.GENERAL_DEPT: "上报综合部",
    Step.SOLUTION_OVERDUE: "解决方案超时",
    Step.COMPLETION_OVERDUE: "办结超时",
    Step.GROUP: "召集公司级媒体投诉处理小组",
    Step.GROUP_OVERDUE: "请公司主管领导决定成立小组",
    Step.HIGHER_AUTHORITY: "上报上一级主管部门",
    Step.PROGRESS: "动态报告",
    Step.STATEMENT: "下发统一解释口径",
    Step.FAILOVER: "转B角/越级上报",
    Step.LEADER_SILENT: "公司主管领导未答复",
    Step.CONFIRM: "答复已登记",
    Step.SOLUTION_REPORT: "解决方案报告",
    Step.RESOLVED: "办结报告",
    Step.STATEMENT_DRAFT: "统一解释口径送审",
    Step.MAJOR: "转重大突发事件",
    Step.VERIFY: "请确认答复人身份",
    Step.FOLLOWUP: "外部来信（补充）",
}

# A clock's state as the mails and the board show it, in a word (never by colour alone).
CLOCK_STATES = {"met": "已完成", "overdue": "已超时", "open": "进行中"}

# The event log's kinds, as 媒体投诉相关记录 names them.
EVENT_LABELS: dict[EventKind, str] = {
    EventKind.MAIL_IN: "来信", EventKind.MAIL_OUT: "发信", EventKind.REGISTERED: "登记",
    EventKind.DUPLICATE: "重复来信", EventKind.QUARANTINED: "隔离", EventKind.PARSE_PROBLEMS: "读取问题",
    EventKind.BREACHED: "超时", EventKind.STATUS: "状态变更", EventKind.COMMAND: "回复指令",
    EventKind.REJECTED: "未采纳", EventKind.UNREACHABLE: "无法联系", EventKind.SEND_FAILED: "发送失败",
    EventKind.RESEND_UNCERTAIN: "重发（送达不明）",
}

CATEGORY_LABELS: dict[int, str] = {  # SPEC §2
    1: "客户拟向/已向媒体反映，尚未报道",
    2: "媒体人员投诉公司业务、网络、工程、服务",
    3: "媒体人员受托或认为有新闻价值的投诉",
    4: "省公司及主管部门转来的媒体相关投诉",
    5: "影响较小、可预见的媒体投诉",
}
CATEGORY_BASIS_LABELS: dict[str, str] = {"stated": "注明", "judged": "推测"}

# The directory's roles (SPEC §1), by their config.toml keys: a department's, then the leaders'.
DEPARTMENT_ROLE_LABELS: dict[str, str] = {"interface_a": "接口人A角", "interface_b": "接口人B角", "leader": "领导"}
LEADER_LABELS: dict[str, str] = {"company": "公司主管领导", "media": "媒体主管领导", "higher_authority": "上一级主管部门"}

LATE = FIELD_LABELS["late"]  # said after a status, a clock or a mail that came late


def status_label(status: str) -> str:
    """A status as people read it; an unknown one as it is stored."""
    return STATUS_LABELS.get(status, status)


def event_label(kind: str) -> str:
    """An event log line's kind as people read it; a kind this version does not know, as it
    is stored."""
    try:
        return EVENT_LABELS.get(EventKind(kind), kind)
    except ValueError:
        return kind


def clock_label(kind: str) -> str:
    """A clock as a list of clocks names it: "评估答复（可处理/无法处理）", "动态报告"; a kind
    this version does not know (a newer one's row), as it is stored."""
    try:
        known = DeadlineKind(kind)
    except ValueError:
        return kind
    name, hint = CLOCK_LABELS.get(known, kind), CLOCK_HINTS.get(known)
    return f"{name}（{hint}）" if hint else name


def category_label(category: int | None, basis: str | None = None, reason: str | None = None, *,
                   ask: bool = True) -> str:
    """The category as people read it, with how it was had: "3. …（依据：转发人注明）", or
    "推测：3. …（依据：…）" for one judged from the story. `ask` adds the request to confirm
    or correct by reply (for mails; the form and the register only state it)."""
    if category is None:
        return "待定（请回复“类别：1-5”）" if ask else "待定"
    text = f"{category}. {CATEGORY_LABELS.get(category, '')}".rstrip(". ")
    if basis == "judged":
        why = f"依据：{reason}；" if reason else ""
        judged = CATEGORY_BASIS_LABELS["judged"]
        return f"{judged}：{text}（{why}请回复“类别：N”确认或更正）" if ask else f"{judged}：{text}（{why.rstrip('；')}）"
    return f"{text}（依据：{reason}）" if reason else text

# -- `complaintd plan` and `ingest --dry-run` --------------------------------------------------

# A failover (Step.FAILOVER) by whom it passes over: an A contact's B takes over, or a silent
# leader's next one up is told (越级上报).
FAILOVER_LABELS: dict[str, str] = {"a": "转B角", "leader": "越级上报"}

# Where a field of a registration record came from, as a dry run shows it.
SOURCE_LABELS: dict[str, str] = {
    "header": "邮件头",
    "forwarded_header": "转发的原邮件头",
    "note": "转发人附言",
    "original_text": "原文",
    "directory": "通讯录",
    "arrival": "到达时间",
    "registration": "登记时",
    "attachments": "邮件附件",
}

# -- the board (daemon/web/) ---------------------------------------------------------------------

# A mail's state in a case's log: an inbound mail by what became of it, ours by its delivery.
MAIL_STATE_LABELS: dict[str, str] = {
    "registered": "已登记", "duplicate": "重复", "reply": "回复", "autoreply": "自动回复", "bounce": "退信",
    "ignored": "已忽略", "quarantined": "已隔离",
    "pending": "待发送", "sending": "发送中", "sent": "已送达服务器", "failed": "发送失败",
}
