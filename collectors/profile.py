"""Deployment profiles: every byte-level choice of the collector protocol that implementations
make differently, as one file per deployment (docs/collectors.md, "Profiles").

A profile is YAML (or JSON). ``collectors/profiles/default.yaml`` is the documented default; the
other files there are one example per variant. Load with :func:`load_profile` (a name of a file in
that folder, or a path).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from collectors.framing import FRAMINGS

PROFILE_DIR = Path(__file__).resolve().parent / "profiles"


class Profile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    #: Framings accepted, in order of preference; with more than one the gateway detects the framing
    #: of each connection from its first bytes, and answers in it. A collector sends the first.
    framing: tuple[Literal["A", "B", "plain"], ...] = Field(("A",), min_length=1)
    encryption: Literal["none", "aes-128-cbc"] = "aes-128-cbc"
    #: ``key`` = the AES key is also the IV (common); otherwise 32 hex digits.
    aes_iv: str = "key"
    #: ``zero``: NULs up to the block size (none when aligned), trailing NULs trimmed on decrypt;
    #: ``pkcs7``: RFC 5652 padding, always at least one byte.
    padding: Literal["zero", "pkcs7"] = "pkcs7"
    #: Encoding of the XML text before encryption (one city specification uses UTF-16LE).
    text_encoding: Literal["utf-8", "utf-16le"] = "utf-8"
    #: How the shared key string becomes the 16 AES key bytes: its UTF-8 text, or 32 hex digits.
    key_encoding: Literal["text", "hex"] = "text"
    #: MD5 input order; the guideline's is sequence then key.
    md5_order: Literal["sequence+key", "key+sequence"] = "sequence+key"
    #: Hex case of the MD5 a collector sends (the gateway accepts either case).
    md5_case: Literal["lower", "upper"] = "lower"
    #: The random challenge the data centre sends.
    sequence_style: Literal["digits8", "hex16", "uuid"] = "digits8"
    #: Whether a ``report`` (and a ``reply``) is acknowledged with ``report_ack``.
    report_ack: bool = True
    #: The element of ``report_ack`` / ``continuous_ack`` that carries ``pass``.
    ack_element: Literal["ack", "result"] = "ack"
    #: strftime format of ``time`` elements (local time, China Standard Time).
    time_format: Literal["%Y%m%d%H%M%S", "%Y/%m/%d %H:%M:%S"] = "%Y%m%d%H%M%S"

    @field_validator("aes_iv")
    @classmethod
    def _iv(cls, v: str) -> str:
        if v != "key":
            try:
                if len(bytes.fromhex(v)) != 16:
                    raise ValueError
            except ValueError:
                raise ValueError("aes_iv is 'key' or 32 hex digits") from None
        return v

    @model_validator(mode="after")
    def _plain_is_clear(self) -> Profile:
        # A bare-XML packet ends at </root>; ciphertext has no such end.
        if "plain" in self.framing and self.encryption != "none":
            raise ValueError("framing 'plain' carries clear XML only (encryption: none)")
        if len(set(self.framing)) != len(self.framing) or not set(self.framing) <= set(FRAMINGS):
            raise ValueError(f"framing lists distinct entries of {FRAMINGS}")
        return self

    @property
    def block(self) -> int:
        return 16 if self.encryption != "none" else 1


def load_profile(name_or_path: str | Path) -> Profile:
    """A profile from ``collectors/profiles/<name>.yaml`` or from a file path."""
    path = Path(name_or_path)
    if not path.suffix:
        path = PROFILE_DIR / f"{name_or_path}.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"{path}: a profile is a mapping of settings")
    data.setdefault("name", path.stem)
    return Profile.model_validate(data)


def profile_names() -> list[str]:
    return sorted(p.stem for p in PROFILE_DIR.glob("*.yaml"))
