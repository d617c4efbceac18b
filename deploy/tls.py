"""A small certificate authority for development and on-premises deployments.

The platform creates its own CA (ECDSA P-256, 10 years), a server certificate for the broker and
the API (with the host names and IP addresses clients dial, checked by their TLS stacks), and,
for mutual TLS, one client certificate per device whose common name is the device's MQTT user
name (``<building_code>.<device_id>``, deploy/mqtt_auth.py), so the broker's ACL for that user
applies to whoever presents it. A city with its own PKI skips this and points the settings at
its own files (docs/security.md).

Every file is written owner-only (0600): the keys are secrets, and the certificates gain nothing
from being world-readable. ::

    python -m deploy.tls server --dir var/tls --name localhost --name 127.0.0.1
    python -m deploy.tls client --dir var/tls --cn 511102A001.E1
"""

from __future__ import annotations

import argparse
import datetime as dt
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from storage.private import write_private

CA_DAYS = 3650
#: Leaf certificates live shorter than the CA so a leaked one expires on its own. [days]
LEAF_DAYS = 825
DEFAULT_SERVER_NAMES = ("localhost", "127.0.0.1")


@dataclass(frozen=True)
class CertFiles:
    """A certificate, its key, and the CA that signed it (PEM paths)."""

    cert: Path
    key: Path
    ca: Path


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "energy-supervision"),
                      x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def ensure_ca(folder: Path, cn: str = "energy-supervision development CA") -> tuple[Path, Path]:
    """The CA under ``folder`` (``ca.pem``, ``ca.key``), created on first use; (cert, key)."""
    folder.mkdir(parents=True, exist_ok=True)
    os.chmod(folder, 0o700)
    cert_path, key_path = folder / "ca.pem", folder / "ca.key"
    if cert_path.exists() and key_path.exists():
        return cert_path, key_path
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(_name(cn)).issuer_name(_name(cn))
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=CA_DAYS))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                         content_commitment=False, key_encipherment=False, data_encipherment=False,
                                         key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256()))
    write_private(key_path, _pem_key(key))
    write_private(cert_path, cert.public_bytes(serialization.Encoding.PEM))
    return cert_path, key_path


def _issue(folder: Path, stem: str, cn: str, *, server_names: tuple[str, ...] = (), client: bool) -> CertFiles:
    ca_cert_path, ca_key_path = ensure_ca(folder)
    ca_cert = x509.load_pem_x509_certificate(ca_cert_path.read_bytes())
    ca_key = serialization.load_pem_private_key(ca_key_path.read_bytes(), password=None)
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    builder = (x509.CertificateBuilder().subject_name(_name(cn)).issuer_name(ca_cert.subject)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=LEAF_DAYS))
               .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
               .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH if client
                                                     else ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
               .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_cert.public_key()),
                              critical=False))
    if server_names:
        sans: list[x509.GeneralName] = []
        for n in server_names:
            try:
                sans.append(x509.IPAddress(ipaddress.ip_address(n)))
            except ValueError:
                sans.append(x509.DNSName(n))
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    cert = builder.sign(ca_key, hashes.SHA256())
    files = CertFiles(folder / f"{stem}.pem", folder / f"{stem}.key", ca_cert_path)
    write_private(files.key, _pem_key(key))
    write_private(files.cert, cert.public_bytes(serialization.Encoding.PEM))
    return files


def ensure_server_cert(folder: Path, names: tuple[str, ...] = DEFAULT_SERVER_NAMES) -> CertFiles:
    """``server.pem``/``server.key`` for ``names`` (DNS names or IP addresses), made once; made
    again when the names asked for are not all in the existing certificate."""
    cert_path = folder / "server.pem"
    if cert_path.exists() and (folder / "server.key").exists():
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        have = {str(v) for v in san.get_values_for_type(x509.DNSName)}
        have |= {str(v) for v in san.get_values_for_type(x509.IPAddress)}
        if set(names) <= have:
            return CertFiles(cert_path, folder / "server.key", folder / "ca.pem")
    return _issue(folder, "server", names[0], server_names=names, client=False)


def issue_client_cert(folder: Path, common_name: str) -> CertFiles:
    """A client certificate for one device or service; its common name is its MQTT user name."""
    stem = "client-" + "".join(ch if ch.isalnum() or ch in ".-_" else "_" for ch in common_name)
    return _issue(folder, stem, common_name, client=True)


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m deploy.tls", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("server", help="the CA and a server certificate for the broker and the API")
    s.add_argument("--dir", type=Path, required=True)
    s.add_argument("--name", action="append", help="a host name or IP clients dial (repeat); default localhost")
    c = sub.add_parser("client", help="a client certificate for mutual TLS")
    c.add_argument("--dir", type=Path, required=True)
    c.add_argument("--cn", required=True, help="common name = the device's MQTT user name")
    args = ap.parse_args()
    files = (ensure_server_cert(args.dir, tuple(args.name or DEFAULT_SERVER_NAMES)) if args.cmd == "server"
             else issue_client_cert(args.dir, args.cn))
    print(f"certificate {files.cert}\nkey         {files.key}\nCA          {files.ca}")


if __name__ == "__main__":
    main()
