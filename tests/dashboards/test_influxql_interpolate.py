"""Unit tests of the InfluxQL builder and of the model of Grafana's query interpolation."""

from __future__ import annotations

import pytest

from dashboards.influxql import Measurement, Select, agg, any_of, eq, ident, matches, number, string
from dashboards.interpolate import (
    Variable,
    calculate_interval_ms,
    format_interval,
    interpolate,
    regex_escape,
    round_interval_ms,
)

DAY_MS = 86_400_000


def test_identifiers_and_strings_are_quoted_and_escaped():
    assert ident("consumption_kwh") == '"consumption_kwh"'
    assert ident('a"b\\c') == '"a\\"b\\\\c"'
    assert string("it's") == "'it\\'s'"
    assert eq("building_code", "${building}") == "\"building_code\" = '${building}'"
    with pytest.raises(ValueError, match="empty"):
        ident("")
    with pytest.raises(ValueError, match="unescaped '/'"):
        matches("device_id", "a/b")


def test_select_renders_every_clause_in_order():
    q = Select((agg("sum", "consumption_kwh", alias="e", scale=0.0001229),), ("meter",),
               (eq("carrier", "electricity"), any_of('"a" > 1', '"b" > 2'), "$timeFilter"),
               ("sub_item",), time_bucket="$__interval", fill="0", tz="Asia/Shanghai")
    assert q.render() == (
        'SELECT sum("consumption_kwh") * 0.0001229 AS "e" FROM "meter" WHERE "carrier" = \'electricity\' '
        'AND ("a" > 1 OR "b" > 2) AND $timeFilter GROUP BY time($__interval), "sub_item" fill(0) '
        "tz('Asia/Shanghai')")
    nested = Select(("count(*)",), (q, "pv"))
    assert nested.render().startswith('SELECT count(*) FROM (SELECT sum("consumption_kwh")')
    assert nested.render().endswith(', "pv"')
    with pytest.raises(ValueError, match="field"):
        Select((), ("meter",)).render()


def test_a_measurement_of_another_policy_is_qualified():
    q = Select((agg("sum", "consumption_kwh"),), (Measurement("meter_1d", "rollup"), "meter"))
    assert q.render() == 'SELECT sum("consumption_kwh") FROM "rollup"."meter_1d", "meter"'
    assert str(Measurement("meter_1d", 'odd"rp')) == '"odd\\"rp"."meter_1d"'


def test_numbers_have_no_float_noise():
    assert number(0.7143 / 1000) == "0.0007143"
    assert number(0.0) == "0"


@pytest.mark.parametrize(("raw_ms", "rounded_ms", "text"), [
    (172_800, 120_000, "2m"),  # 2 days / 1000 points = 172.8 s: between 90 s and 210 s -> 2 min
    (120, 100, "100ms"),
    (900_000, 900_000, "15m"),  # exactly 15 min stays 15 min
    (1_000_000, 900_000, "15m"),  # <= 17.5 min rounds to 15 min
    (2_000_000, 1_800_000, "30m"),
    (31_500, 30_000, "30s"),  # between 25 s and 45 s -> 30 s
    (31_536_000, 21_600_000, "6h"),  # 1 year / 1000 points = 8.76 h -> 6 h
    (4_000_000_000, 31_536_000_000, "1y"),  # above 6 weeks -> 1 year
])
def test_round_interval_table(raw_ms, rounded_ms, text):
    assert round_interval_ms(raw_ms) == rounded_ms
    assert format_interval(rounded_ms) == text


def test_interval_for_a_year_on_a_1000_point_panel():
    # 365 d / 1000 = 8.76 h, above 4.5 h and at most 9 h -> Grafana's 6 h step
    assert calculate_interval_ms(0, 365 * DAY_MS, 1000, "15m") == 6 * 3_600_000
    # 2 days / 1000 = 2.88 min, below the 15 min minimum -> 15 min
    assert calculate_interval_ms(0, 2 * DAY_MS, 1000, "15m") == 900_000
    with pytest.raises(ValueError, match="positive"):
        calculate_interval_ms(5, 5, 1000, None)


def test_time_filter_and_interval_substitution():
    q = 'SELECT sum("x") FROM "m" WHERE $timeFilter GROUP BY time($__interval)'
    out = interpolate(q, {}, from_ms=1_700_000_000_000, to_ms=1_700_172_800_000, min_interval="15m")
    assert out == ('SELECT sum("x") FROM "m" WHERE time >= 1700000000000ms and time <= 1700172800000ms '
                   "GROUP BY time(15m)")


def test_variables_formatted_like_grafana_influxdb():
    codes = 'WHERE "building_code" =~ /^${district}${building_type}[0-9]{3}$/ AND "b" = \'$building\''
    two = {"district": Variable(("510402", "510403"), multi=True, include_all=True, all_value="[0-9]{6}"),
           "building_type": Variable(("A",), multi=True, include_all=True, all_value="[A-H]"),
           "building": Variable("510402A001")}
    assert interpolate(codes, two, from_ms=0, to_ms=DAY_MS) == (
        'WHERE "building_code" =~ /^(510402|510403)A[0-9]{3}$/ AND "b" = \'510402A001\'')
    everything = {**two, "district": Variable(("510402",), multi=True, include_all=True, all_value="[0-9]{6}",
                                              is_all=True)}
    assert "/^[0-9]{6}A[0-9]{3}$/" in interpolate(codes, everything, from_ms=0, to_ms=DAY_MS)
    assert regex_escape("a.b(c)") == "a\\.b\\(c\\)"
    assert interpolate("${__range_s}", {}, from_ms=0, to_ms=DAY_MS) == "86400"
    assert interpolate("$unknown stays", {}, from_ms=0, to_ms=DAY_MS) == "$unknown stays"
