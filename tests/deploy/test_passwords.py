"""Generated passwords go on command lines: none may start with '-' (argparse would read it as an
option; CI once failed on a generated InfluxDB admin password '-zUY7I6nkTLTOf_O6eFWaA')."""

from __future__ import annotations

import re

from deploy.passwords import new_password
from ingest.settings import parse_args


def test_no_generated_password_starts_with_a_dash_and_all_are_url_safe():
    # secrets.token_urlsafe starts 1 in 64 with '-': over 3,000 draws the old generator would
    # pass this with probability (63/64)**3000, about 3e-21.
    drawn = [new_password(16) for _ in range(3000)]
    assert not [p for p in drawn if p[0] in "-_"]
    assert all(re.fullmatch(r"[A-Za-z0-9_-]+", p) for p in drawn)
    # 16 bytes of entropy are 22 base64 characters, plus the drawn first one.
    assert {len(p) for p in drawn} == {23}
    assert len(set(drawn)) == len(drawn)


def test_a_password_starting_with_a_dash_is_taken_in_the_equals_form():
    # A password an operator chose may still start with '-': '--flag=value' passes it
    # (docs/settings.md says so); the variable EP_INFLUX_PASSWORD is preferred anyway.
    s = parse_args(["--influx-username", "admin", "--influx-password=-zUY7I6nkTLTOf_O6eFWaA"])
    assert s.influx_password == "-zUY7I6nkTLTOf_O6eFWaA"
