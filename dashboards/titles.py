"""The one table of dashboard and panel titles, Chinese and English: "城市能耗监管总览 / City energy
supervision overview". The supervision office reads Chinese; the English half keeps the titles the
docs, the tests and the issue reports use.

A title is looked up by its English text as a template; ``{name}`` fields are filled from the
caller's constants (thresholds, plan targets), so a number lives only where it is defined. A title
missing from the table fails the build (KeyError): no dashboard goes out half translated.
"""

from __future__ import annotations

SEPARATOR = " / "

ZH: dict[str, str] = {
    # dashboards
    "City energy supervision overview": "城市能耗监管总览",
    "Building energy detail": "建筑能耗详情",
    "Rooftop PV": "屋顶光伏",
    "EV charging": "电动汽车充电",
    "Data quality": "数据质量",
    # overview
    "Buildings reporting in district $district, by type": "行政区 $district 按类型上报数据的建筑",
    "Audit list: electricity >= {kwh} kWh or energy >= {tce} tce":
        "能源审计名单：用电量 ≥ {kwh} kWh 或综合能耗 ≥ {tce} tce",
    "Top 10 by grid electricity": "电网购电量前10名",
    "Top 10 by energy (tce)": "综合能耗（tce）前10名",
    "Top 10 by energy use intensity": "单位面积能耗前10名",
    "Electrification share (target {pct}% by 2030)": "电气化率（2030年目标 {pct}%）",
    "Renewable substitution rate (target {pct}% by 2030)": "可再生能源替代率（2030年目标 {pct}%）",
    "Open alerts (audit threshold)": "未关闭告警（能源审计阈值）",
    "Open alerts (API rules)": "未关闭告警（平台规则）",
    "Energy of the selected buildings": "所选建筑的综合能耗",
    # building detail
    "Electricity by sub-item": "分项用电量",
    "Load profile (main meter)": "负荷曲线（总表）",
    "Base load (lowest hourly mean power of the day)": "基础负荷（每日最低小时平均功率）",
    "Natural gas": "天然气",
    "Water": "用水",
    "District heat": "集中供热",
    "Electricity use intensity, last 12 months, vs quota": "近12个月单位面积用电量与定额",
    "Rooftop PV of this building": "本建筑屋顶光伏",
    "EV charging energy of this building": "本建筑电动汽车充电量",
    "Retrofit savings: avoided electricity per month": "节能改造效果：每月节约电量",
    "Data coverage per meter": "各表计数据完整率",
    # rooftop PV
    "PV generation and export": "光伏发电量与上网电量",
    "PV inverter power": "光伏逆变器功率",
    "Self-consumption by building": "各建筑光伏自用率",
    "Specific yield by building": "各建筑光伏单位容量发电量",
    # EV charging
    "Finished charging sessions": "已完成的充电次数",
    "Charging energy and its PV part": "充电量及其中的光伏电量",
    "Charging power, all piles": "全部充电桩的充电功率",
    "PV (green) share of charging energy": "充电量中的光伏（绿电）占比",
    "Utilization per pile (share of time charging)": "各充电桩利用率（充电时间占比）",
    # data quality
    "Meters silent for more than {silent}": "超过 {silent} 无数据的表计",
    "Last reading per meter (oldest first)": "各表计最新读数（最旧在前）",
    "Gaps longer than the threshold, per meter": "各表计超过阈值的数据缺口",
    "Data-quality findings per device": "各设备的数据质量问题",
    "Dead-lettered messages by reason": "按原因统计的死信消息",
    "Ingest lag (now - newest reading written)": "入库延迟（当前时间 − 最新写入读数的时间）",
    "Readings written per second, per ingest worker": "各入库进程每秒写入的读数",
}


def t(english: str, **fields: object) -> str:
    """``"<Chinese> / <English>"`` for a title of the table, with ``fields`` filled in both."""
    return f"{ZH[english].format(**fields)}{SEPARATOR}{english.format(**fields)}"


def english(title: str) -> str:
    """The English half of a title made by :func:`t` (the whole title otherwise)."""
    return title.split(SEPARATOR, 1)[-1]
