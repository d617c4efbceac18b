"""Payload <-> XML text: AES-128-CBC with the profile's IV, padding and text encoding; and the MD5
answer of the authentication (docs/collectors.md, "Encryption and authentication")."""

from __future__ import annotations

import hashlib

from cryptography.hazmat.primitives import padding as sym_padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from collectors.profile import Profile


class CodecError(ValueError):
    def __init__(self, reason: str, detail: str):
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def aes_key(profile: Profile, key: str) -> bytes:
    """The 16 key bytes of the shared key string."""
    raw = bytes.fromhex(key) if profile.key_encoding == "hex" else key.encode("utf-8")
    if len(raw) != 16:
        raise CodecError("bad_key", f"an AES-128 key is 16 bytes, this one is {len(raw)}")
    return raw


def _cipher(profile: Profile, key: str) -> Cipher:
    k = aes_key(profile, key)
    iv = k if profile.aes_iv == "key" else bytes.fromhex(profile.aes_iv)
    return Cipher(algorithms.AES(k), modes.CBC(iv))


def may_open(profile: Profile, key: str, payload: bytes) -> bool:
    """Whether ``key`` can be the key of ``payload``: its first block decrypts to the start of an
    XML text. One block, so trying many keys on a connection's first packet stays cheap."""
    if len(payload) < 16:
        return False
    try:
        k = aes_key(profile, key)
    except (CodecError, ValueError):
        return False
    iv = k if profile.aes_iv == "key" else bytes.fromhex(profile.aes_iv)
    d = Cipher(algorithms.AES(k), modes.ECB()).decryptor()  # CBC decryption of the first block, by hand
    block = bytes(a ^ b for a, b in zip(d.update(payload[:16]), iv, strict=True))
    return block.lstrip(b"\xef\xbb\xbf\xff\xfe \r\n\t\x00").startswith(b"<")


def encode(profile: Profile, key: str, text: str) -> bytes:
    data = text.encode(profile.text_encoding)
    if profile.encryption == "none":
        return data
    if profile.padding == "pkcs7":
        p = sym_padding.PKCS7(128).padder()
        data = p.update(data) + p.finalize()
    else:
        data += b"\0" * (-len(data) % 16)
    enc = _cipher(profile, key).encryptor()
    return enc.update(data) + enc.finalize()


def decode(profile: Profile, key: str | None, payload: bytes) -> str:
    """The XML text of one payload; ``key`` is None before the collector is known (clear profiles)."""
    data = payload
    if profile.encryption != "none":
        if key is None:
            raise CodecError("unknown_key", "no key to decrypt with")
        if not data or len(data) % 16:
            raise CodecError("bad_ciphertext", f"{len(data)} bytes is not a whole number of AES blocks")
        dec = _cipher(profile, key).decryptor()
        data = dec.update(data) + dec.finalize()
        if profile.padding == "pkcs7":
            try:
                unp = sym_padding.PKCS7(128).unpadder()
                data = unp.update(data) + unp.finalize()
            except ValueError:
                raise CodecError("bad_padding", "PKCS#7 padding does not check out (wrong key?)") from None
        else:
            data = data.rstrip(b"\0")
            if profile.text_encoding == "utf-16le" and len(data) % 2:
                data += b"\0"  # the trim took the high byte of the last character
    try:
        return data.decode(profile.text_encoding).lstrip("\ufeff \r\n\t\0")
    except UnicodeDecodeError:
        raise CodecError("bad_encoding", f"not {profile.text_encoding} text (wrong key?)") from None


def md5_answer(profile: Profile, sequence: str, key: str) -> str:
    """What a collector answers to ``sequence``: hex MD5 of sequence and key in the profile's order."""
    text = sequence + key if profile.md5_order == "sequence+key" else key + sequence
    digest = hashlib.md5(text.encode("utf-8")).hexdigest()  # noqa: S324 - the protocol's choice
    return digest.upper() if profile.md5_case == "upper" else digest
