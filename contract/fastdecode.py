"""Ingest's decoder: a fast path for payloads the contract accepts, the reference for the rest.

:func:`decode` has the signature and the verdicts of :func:`contract.payloads.decode`. It first
tries msgspec Structs **generated at import from the pydantic models** of contract/payloads.py
(fields, defaults, constraints, ``extra="forbid"``, ``allow_inf_nan=False`` and the models'
after-validators), then the same topic and :func:`~contract.payloads._check_semantics` checks as
the reference. The fast path only ever *accepts*: any msgspec error, any validator or semantic
failure, anything it does not know hands the payload to the reference ``decode``, which gives the
reason and the detail. So rejections are the reference's by construction, and
tests/contract/test_fastdecode.py shows with random valid and invalid payloads that whatever the
fast path accepts the reference accepts too, with equal fields and values.

Why: pydantic's validation and model construction were a fifth of the worker's CPU per reading
(docs/benchmarks/ingest-issue13.md); msgspec decodes straight into slotted Structs.

Accepted messages are Structs, not pydantic models: ingest reads their attributes only (the same
names, enum members and value types). A contract change the translator does not understand (a new
constraint, config option or validator kind) fails at import, so the two cannot drift silently.
"""

from __future__ import annotations

import re
import sys
import types
from enum import Enum
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import msgspec
from annotated_types import Ge, Gt, Le, Lt, MaxLen, MinLen
from pydantic import BaseModel, Strict, StringConstraints
from pydantic_core import PydanticUndefined

from contract import payloads
from contract.payloads import MAX_PAYLOAD_BYTES, DeviceMessage, GatewayBatch, _check_semantics
from contract.topics import TopicAddress, TopicError, parse_topic
from contract.vocabulary import BUILDING_CODE_PATTERN, BUILDING_CODE_RE, DEVICE_ID_PATTERN, DEVICE_ID_RE

#: The compiled forms of the vocabulary's patterns, ending in ``\Z`` (contract/vocabulary.py says why).
_PATTERNS = {BUILDING_CODE_PATTERN: BUILDING_CODE_RE, DEVICE_ID_PATTERN: DEVICE_ID_RE}
#: Identifiers known to match their pattern: a fleet repeats a few thousand, and msgspec's own
#: ``Meta(pattern=...)`` (Python's ``re`` per value) cost about 1 us a device message per field.
_MATCHED: set[tuple[object, str]] = set()
_MATCHED_MAX = 50_000  # bounded: senders choose the texts
#: Valid topics and their addresses: one per device, parsed once (~1.5 us each with its regexes).
_TOPICS: dict[str, TopicAddress] = {}
_TOPICS_MAX = 50_000
#: ``allow_inf_nan=False``: JSON has no NaN/Infinity tokens, but 1e400 overflows to inf.
_FINITE = msgspec.Meta(ge=-sys.float_info.max, le=sys.float_info.max)
_BOUNDS = {Ge: "ge", Gt: "gt", Le: "le", Lt: "lt"}


def _meta_of(metadata: list[Any], is_int: bool) -> dict[str, Any]:
    """msgspec ``Meta`` arguments of a pydantic field's constraints; TypeError for unknown ones."""
    out: dict[str, Any] = {}
    for m in metadata:
        if isinstance(m, MinLen):
            out["min_length"] = m.min_length
        elif isinstance(m, MaxLen):
            out["max_length"] = m.max_length
        elif type(m) in _BOUNDS:
            key = _BOUNDS[type(m)]
            bound = getattr(m, key)
            if is_int and key in ("lt", "gt"):
                # msgspec takes int bounds within int64 only: TsMs's ``lt=2**63`` is ``le=2**63-1``.
                key, bound = ("le", bound - 1) if key == "lt" else ("ge", bound + 1)
            out[key] = bound
        elif isinstance(m, Strict):
            # msgspec never coerces (no "1.5" -> 1.5, no true -> 1.0); it takes JSON ints as floats,
            # as pydantic's strict float does.
            continue
        else:
            raise TypeError(f"fast decoder: unknown constraint {m!r} (contract/fastdecode.py)")
    return out


def _with(tp: Any, metadata: list[Any], is_int: bool) -> Any:
    meta = _meta_of(metadata, is_int)
    return Annotated[tp, msgspec.Meta(**meta)] if meta else tp


def _type_of(tp: Any, finite: bool) -> Any:
    """The msgspec type of a pydantic annotation (``finite``: the model's ``allow_inf_nan=False``)."""
    origin = get_origin(tp)
    if origin is Annotated:
        base, *metadata = get_args(tp)
        return _with(_type_of(base, finite), metadata, base is int)
    if tp is float:
        return Annotated[float, _FINITE] if finite else float
    if tp in (str, int, type(None)) or origin is Literal:
        return tp
    if isinstance(tp, type) and issubclass(tp, Enum):
        return tp
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return _struct_of(tp)
    if origin in (Union, types.UnionType):
        return Union[tuple(_type_of(a, finite) for a in get_args(tp))]  # noqa: UP007 - built from a tuple
    if origin is dict:
        k, v = get_args(tp)
        return dict[_type_of(k, finite), _type_of(v, finite)]
    if origin is list:
        (item,) = get_args(tp)
        return list[_type_of(item, finite)]
    raise TypeError(f"fast decoder: no msgspec type for {tp!r} (contract/fastdecode.py)")


def _models_in(tp: Any):
    """The pydantic models anywhere in an annotation."""
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        yield tp
    for arg in get_args(tp):
        yield from _models_in(arg)


_STRUCTS: dict[type[BaseModel], type[msgspec.Struct]] = {}
#: Struct type -> the model's after-validators (plain functions of ``self``, reading attributes).
_AFTER: dict[type, tuple] = {}
#: Struct type -> fields whose values hold a Struct with validators: (name, is a list).
_NESTED: dict[type, tuple[tuple[str, bool], ...]] = {}
#: Struct type -> its pattern-constrained string fields and their compiled patterns.
_CHECKS: dict[type, tuple[tuple[str, re.Pattern], ...]] = {}


def _struct_of(model: type[BaseModel]) -> type[msgspec.Struct]:
    if model in _STRUCTS:
        return _STRUCTS[model]
    config = dict(model.model_config)
    if config.pop("extra", None) != "forbid" or config.pop("frozen", False) is not True:
        raise TypeError(f"fast decoder: {model.__name__} must forbid extra keys and be frozen")
    finite = config.pop("allow_inf_nan", True) is False
    if config:
        raise TypeError(f"fast decoder: unknown config of {model.__name__}: {config}")
    decorators = model.__pydantic_decorators__
    if decorators.field_validators or decorators.validators or decorators.root_validators:
        raise TypeError(f"fast decoder: field validators of {model.__name__} are not translated")
    after = []
    for d in decorators.model_validators.values():
        if d.info.mode != "after":
            raise TypeError(f"fast decoder: {d.info.mode} validator of {model.__name__} is not translated")
        after.append(d.func)
    fields = []
    nested = []
    checks: list[tuple[str, re.Pattern]] = []
    for name, f in model.model_fields.items():
        if f.alias is not None or f.validation_alias is not None:
            raise TypeError(f"fast decoder: alias of {model.__name__}.{name} is not translated")
        metadata = list(f.metadata)
        pattern = [m for m in metadata if isinstance(m, StringConstraints)]
        if pattern:  # a top-level identifier: checked (memoised) by _validate, see _MATCHED
            (m,) = pattern
            rest = {k: v for k, v in vars(m).items() if v is not None and k != "pattern"}
            if f.annotation is not str or rest or m.pattern not in _PATTERNS:
                raise TypeError(f"fast decoder: unknown string constraint {m!r} of {model.__name__}.{name}")
            checks.append((name, _PATTERNS[m.pattern]))
            metadata.remove(m)
        tp = _with(_type_of(f.annotation, finite), metadata, f.annotation is int)
        if f.default_factory is not None:
            fields.append((name, tp, msgspec.field(default_factory=f.default_factory)))
        elif f.default is PydanticUndefined:
            fields.append((name, tp))
        else:
            fields.append((name, tp, f.default))
        sub = f.annotation
        is_list = get_origin(sub) is list
        sub = get_args(sub)[0] if is_list else sub
        direct = isinstance(sub, type) and issubclass(sub, BaseModel)
        for inner in _models_in(f.annotation):
            s = _struct_of(inner)
            if _AFTER[s] or _NESTED[s] or _CHECKS[s]:
                if not direct:  # _validate walks a model or a list of models, nothing else
                    raise TypeError(f"fast decoder: {model.__name__}.{name} nests checked models in {f.annotation}")
                nested.append((name, is_list))
    # gc=False: decoded payloads hold no reference cycles, and untracked objects spare the worker's
    # collector (docs/benchmarks/ingest-issue13.md, "the worker's garbage collector").
    struct = msgspec.defstruct(model.__name__, fields, kw_only=True, frozen=True, forbid_unknown_fields=True,
                               gc=False, module=__name__)
    _STRUCTS[model] = struct
    _AFTER[struct] = tuple(after)
    _NESTED[struct] = tuple(nested)
    _CHECKS[struct] = tuple(checks)
    return struct


FastDeviceMessage = _struct_of(DeviceMessage)
FastGatewayBatch = _struct_of(GatewayBatch)
_DEVICE = msgspec.json.Decoder(FastDeviceMessage)
_GATEWAY = msgspec.json.Decoder(FastGatewayBatch)


def _validate(obj: Any) -> None:
    """Run the models' after-validators on ``obj`` and the Structs below it (raises as they do)."""
    cls = type(obj)
    for name, pattern in _CHECKS[cls]:
        key = (pattern, getattr(obj, name))
        if key not in _MATCHED:
            if not pattern.match(key[1]):
                raise ValueError(f"{name} does not match {pattern.pattern}")
            if len(_MATCHED) >= _MATCHED_MAX:
                _MATCHED.clear()
            _MATCHED.add(key)
    for fn in _AFTER[cls]:  # after the field checks, as pydantic runs them
        fn(obj)
    for name, is_list in _NESTED[cls]:
        value = getattr(obj, name)
        for item in value if is_list else (value,):
            _validate(item)


def _accept(topic: str, payload: bytes) -> tuple[TopicAddress, list] | None:
    """The reference's result when every part of the message is accepted; None for anything else."""
    if len(payload) > MAX_PAYLOAD_BYTES:
        return None
    addr = _TOPICS.get(topic)
    if addr is None:
        try:
            addr = parse_topic(topic)
        except TopicError:
            return None
        if len(_TOPICS) >= _TOPICS_MAX:
            _TOPICS.clear()
        _TOPICS[topic] = addr  # frozen: safe to hand out again
    try:
        parsed = (_GATEWAY if addr.is_gateway else _DEVICE).decode(payload)
        _validate(parsed)
    except Exception:  # noqa: BLE001 - any refusal is the reference's to explain
        return None
    if parsed.building_code != addr.building_code:
        return None
    if addr.is_gateway:
        if parsed.gateway_id != addr.device_id:
            return None
        msgs = parsed.messages
        for m in msgs:
            if m.building_code != addr.building_code:
                return None
    else:
        if (parsed.device_kind, parsed.device_id, parsed.stream) != (addr.device_kind, addr.device_id, addr.stream):
            return None
        msgs = [parsed]
    try:
        for m in msgs:
            _check_semantics(m)
    except Exception:  # noqa: BLE001 - ContractError or not: the reference's to report
        return None
    return addr, list(msgs)


def decode(topic: str, payload: bytes) -> tuple[TopicAddress, list]:
    """:func:`contract.payloads.decode`, fast for accepted messages (Structs in place of models)."""
    found = _accept(topic, payload)
    if found is None:
        # Looked up at call time, so that a replaced reference is the one used (tests/ingest/test_poison.py).
        return payloads.decode(topic, payload)
    return found
