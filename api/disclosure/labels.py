"""Bilingual (Chinese / English) labels of the disclosure pages.

Kept as data in one place so the pages, the CSV headers and the tests agree on the wording.
"""

from __future__ import annotations

from contract.vocabulary import Carrier
from registry.itemcodes import item_codes


def _sub_item_labels() -> dict[str, tuple[str, str]]:
    """Electricity sub-items named as the MOHURD energy item code table names them (the one home
    of the codes, registry/data/energy_item_codes.csv), with their code: the reader of a public
    page can match it to the building's own metering system."""
    out = {}
    for c in item_codes().values():
        if c.level == 2 and c.carrier is Carrier.electricity and c.sub_item is not None:
            out[c.sub_item.value] = (f"{c.name_zh} {c.code}", f"{c.name_en[:1].upper()}{c.name_en[1:]} ({c.code})")
    return out


#: sub_item -> (zh, en), e.g. hvac -> ("空调用电 01B00", "HVAC (01B00)").
SUB_ITEM = _sub_item_labels()
#: Chart colours per sub-item (colour-blind safe, Okabe-Ito).
SUB_ITEM_COLOUR = {"lighting_sockets": "#E69F00", "hvac": "#0072B2", "power": "#009E73", "special": "#CC79A7"}

BUILDING_TYPE = {
    "office": ("办公", "Office"),
    "mall": ("商场", "Shopping mall"),
    "hotel": ("宾馆饭店", "Hotel"),
    "education": ("文化教育", "Culture & education"),
    "medical": ("医疗卫生", "Medical & health"),
    "sports": ("体育", "Sports"),
    "comprehensive": ("综合", "Comprehensive"),
    "other": ("其他", "Other"),
}

CARRIER = {
    "electricity": ("电力", "Electricity"),
    "water": ("水", "Water"),
    "natural_gas": ("天然气", "Natural gas"),
    "lpg": ("液化石油气", "LPG"),
    "manufactured_gas": ("人工煤气", "Manufactured gas"),
    "district_heat": ("集中供热", "District heat"),
    "district_cooling": ("集中供冷", "District cooling"),
    "diesel": ("柴油", "Diesel"),
    "gasoline": ("汽油", "Gasoline"),
    "coal": ("煤", "Coal"),
    "renewable_heat": ("可再生热", "Renewable heat"),
}

STATE = {
    "draft": ("草稿", "Draft"),
    "submitted": ("已提交", "Submitted"),
    "returned": ("已退回", "Returned"),
    "approved": ("已审核", "Approved"),
    "published": ("已公示", "Published"),
    "withdrawn": ("已撤回", "Withdrawn"),
    "superseded": ("已被新版本取代", "Superseded"),
    "discarded": ("已作废", "Discarded"),
}

ACTION = {
    "generate": ("生成", "Generated"),
    "submit": ("提交审核", "Submit for review"),
    "return": ("退回", "Return with comments"),
    "approve": ("审核通过", "Approve"),
    "publish": ("公示", "Publish"),
    "withdraw": ("撤回", "Withdraw"),
    "comment": ("评论", "Comment"),
    "edit": ("修改说明", "Edit remarks"),
    "supersede": ("被取代", "Superseded"),
    "discard": ("作废草稿", "Discard draft"),
    "override": ("豁免完整率要求", "Override minimum coverage"),
}

AUDIT_TRIGGER = {
    "energy": ("综合能耗≥1000 tce", "energy use >= 1000 tce"),
    "electricity": ("用电量≥500万 kWh", "electricity >= 5 million kWh"),
    "both": ("综合能耗≥1000 tce 且用电量≥500万 kWh", "both tests"),
    "none": ("未达审计门槛", "below both thresholds"),
}

QUOTA_STATUS = {
    "within_guide": ("不高于引导值", "Within guide value"),
    "above_guide": ("高于引导值", "Above guide value"),
    "above_constraint": ("超过约束值", "Above constraint value"),
    "no_quota": ("无定额", "No quota"),
    "no_standard": ("未配置能耗定额标准", "No quota standard configured"),
    "insufficient_data": ("数据不足", "Insufficient data"),
}

#: The public audit verdict (api.disclosure.public_view).
AUDIT_VERDICT = {
    "required": ("需审计", "Audit required"),
    "not_required": ("无需审计", "Audit not required"),
    "insufficient_data": ("数据不足", "Insufficient data"),
}

#: Status of a retrofit in the disclosure's savings section (api/disclosure/retrofits.py).
RETROFIT_STATUS = {
    "ok": ("已核验", "Verified"),
    "no_baseline": ("无可用基线", "No usable baseline"),
    "no_reporting_data": ("改造后无数据", "No data after the retrofit"),
    "retrofit_in_future": ("尚未进入核验期", "Reporting period not started"),
    "not_verified": ("尚未核验", "Not yet verified"),
}

#: ASHRAE Guideline 14 verdict of a verified saving (analytics.savings.guideline14_verdict).
GUIDELINE14 = {
    "meets": ("符合 ASHRAE 指南 14", "Meets ASHRAE Guideline 14"),
    "fails": ("不符合 ASHRAE 指南 14", "Does not meet ASHRAE Guideline 14"),
    "not_assessable": ("无法评估", "Not assessable"),
}

MONTHS = tuple(f"{m}月" for m in range(1, 13))
MONTHS_EN = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def bi(table: dict[str, tuple[str, str]], key: str | None) -> str:
    """``中文 English`` for a known key; the key itself otherwise (never an empty cell)."""
    if key is None:
        return "—"
    zh, en = table.get(key, (key, ""))
    return f"{zh} {en}".strip()


#: Chinese wording of every refusal code of the disclosure workflow and pages; the English message
#: (with the record, the role, the state) follows it, so a Chinese page never shows an English-only refusal.
REFUSAL = {
    "not_found": "记录不存在或无权查看",
    "role_not_allowed": "当前角色无权执行此操作",
    "own_submission": "不能审核本人提交的记录，须由另一名审核人员审核",
    "comment_required": "退回须填写意见",
    "reason_required": "撤回须填写原因",
    "text_too_long": "文字过长",
    "record_immutable": "该记录已关闭，不能再修改",
    "not_approved": "只有已审核的记录才能公示",
    "invalid_state": "当前状态不允许此操作",
    "stale_record": "记录已被他人修改，请刷新后重试",
    "conflict": "同一建筑同一年度的另一版本刚刚公示，请刷新后重试",
    "invalid_value": "输入值无效",
    "unauthenticated": "密钥无效",
}


def refusal_zh(code: str | None) -> str:
    """The Chinese sentence of a refusal code; a generic one for a code not listed here."""
    return REFUSAL.get(code or "", "操作被拒绝")
