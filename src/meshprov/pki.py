"""Certificate and key operations with ``cryptography``: issuing, parsing, the checks
``verify`` and ``plan`` share (chain validation for a host, SAN coverage, the renewal rule),
and the checks of a CA imported from an organisation's PKI.

CAs get basicConstraints CA:TRUE (critical; pathlen 1 on a root, 0 on an intermediate), keyUsage
keyCertSign+cRLSign (critical) and key identifiers; server certificates get CA:FALSE,
serverAuth, digitalSignature (plus keyEncipherment for RSA) and the SANs they serve. Serials are
128-bit random and validity starts five minutes in the past to allow for clock skew, as kumactl
does, and ends no later than the issuer's. The authority key identifier is the issuer's subject
key identifier.
"""

from __future__ import annotations

import hashlib
import ipaddress
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey

# cryptography is imported inside the functions that use it: validate and a no-op plan use
# none of them, and importing it costs more than validating a small configuration.
CLOCK_SKEW = timedelta(minutes=5)


def generate_key(algorithm: str) -> PrivateKey:
    """A new private key: ECDSA_P256, ECDSA_P384, RSA_2048, RSA_3072 or RSA_4096."""
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    if algorithm == "ECDSA_P256":
        return ec.generate_private_key(ec.SECP256R1())
    if algorithm == "ECDSA_P384":
        return ec.generate_private_key(ec.SECP384R1())
    if algorithm.startswith("RSA_"):
        return rsa.generate_private_key(public_exponent=65537, key_size=int(algorithm[4:]))
    raise ValueError(f"unknown key algorithm {algorithm!r}")


def _signature_hash(key: PrivateKey) -> hashes.SHA256 | hashes.SHA384:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    if isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.key_size >= 384:
        return hashes.SHA384()
    return hashes.SHA256()


def _base(
    subject: x509.Name,
    key: PrivateKey,
    now: datetime,
    validity: timedelta,
    signer: _Signer | None,
) -> x509.CertificateBuilder:
    """What every certificate shares: names, key, a random serial, backdated validity, and the
    authority key identifier. Under ``signer`` (None: self-signed) the validity is cut to the
    issuer's: a certificate must not outlive (or predate) the CA that vouches for it, clients
    reject it once that CA has expired whatever its own notAfter says."""
    from cryptography import x509

    not_before = now - CLOCK_SKEW
    not_after = not_before + validity
    if signer is None:
        issuer = subject
        authority_key_id = x509.AuthorityKeyIdentifier.from_issuer_public_key(key.public_key())
    else:
        issuer, authority_key_id = signer.cert.subject, signer.authority_key_id
        not_before = max(not_before, signer.cert.not_valid_before_utc)
        not_after = min(not_after, signer.cert.not_valid_after_utc)
        if not_after <= not_before:
            raise ValueError(
                f"the CA {subject_text(signer.cert)} expired at "
                f"{rfc3339(signer.cert.not_valid_after_utc)}: it can sign no certificate"
            )
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(_serial())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(authority_key_id, critical=False)
    )


def _key_usage(**allowed: bool) -> x509.KeyUsage:
    """A keyUsage extension with only the named usages set."""
    from cryptography import x509

    usages = dict.fromkeys(
        (
            "digital_signature",
            "content_commitment",
            "key_encipherment",
            "data_encipherment",
            "key_agreement",
            "key_cert_sign",
            "crl_sign",
            "encipher_only",
            "decipher_only",
        ),
        False,
    )
    return x509.KeyUsage(**{**usages, **allowed})


def _serial() -> int:
    return secrets.randbits(128) | 1  # 128 random bits, never zero


@dataclass(frozen=True)
class Issued:
    """A freshly issued certificate and its key, as PEM text."""

    cert_pem: str
    key_pem: str


@dataclass(frozen=True)
class Issuer:
    """What signs: a CA's certificate and private key (PEM)."""

    cert_pem: str
    key_pem: str


def issue_ca(
    common_name: str,
    organization: str | None,
    key_algorithm: str,
    validity: timedelta,
    now: datetime,
    parent: Issuer | None = None,
    key_pem: str | None = None,
) -> Issued:
    """A root CA (self-signed) or, with ``parent``, an intermediate; ``key_pem`` re-signs a key."""
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    key = load_private_key(key_pem) if key_pem else generate_key(key_algorithm)
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    if organization:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    subject = x509.Name(attrs)
    # a root may sign intermediates, an intermediate end-entity certificates only: meshprov
    # builds no deeper chain, and pathlen 0 keeps a leaked intermediate key (under an
    # imported CA without a path length, too) from minting CAs
    if parent is None:
        signer, signing_key, path_length = None, key, 1
    else:
        signer = _signer(parent.cert_pem, parent.key_pem)
        signing_key = signer.key
        parent_bc = signer.cert.extensions.get_extension_for_class(x509.BasicConstraints).value
        if parent_bc.path_length == 0:
            raise ValueError(f"{signer.cert.subject.rfc4514_string()} (pathlen 0) cannot sign a CA")
        path_length = 0
    cert = (
        _base(subject, key, now, validity, signer)
        .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
        .add_extension(_key_usage(key_cert_sign=True, crl_sign=True), critical=True)
        .sign(signing_key, _signature_hash(signing_key))
    )
    return Issued(cert_to_pem(cert), key_to_pem(key))


def issue_server(
    hostnames: list[str],
    addresses: list[str],
    key_algorithm: str,
    validity: timedelta,
    now: datetime,
    issuer: Issuer,
) -> Issued:
    """A TLS server certificate for the given DNS names and IPs (plus ``localhost``)."""
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    key = generate_key(key_algorithm)
    signer = _signer(issuer.cert_pem, issuer.key_pem)
    dns = list(dict.fromkeys([*hostnames, "localhost"]))
    sans: list[x509.GeneralName] = [x509.DNSName(h) for h in dns]
    sans += [x509.IPAddress(ipaddress.ip_address(a)) for a in dict.fromkeys(addresses)]
    first = (hostnames or addresses or ["localhost"])[0]
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, first[:64])])
    is_rsa = isinstance(key, rsa.RSAPrivateKey)
    cert = (
        _base(subject, key, now, validity, signer)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(digital_signature=True, key_encipherment=is_rsa), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .sign(signer.key, _signature_hash(signer.key))
    )
    return Issued(cert_to_pem(cert), key_to_pem(key))


def _issuer_public_key(cert: x509.Certificate) -> ec.EllipticCurvePublicKey | rsa.RSAPublicKey:
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    key = cert.public_key()
    if not isinstance(key, ec.EllipticCurvePublicKey | rsa.RSAPublicKey):
        raise ValueError(
            f"{cert.subject.rfc4514_string()} has a {type(key).__name__}: "
            "only ECDSA and RSA CAs can sign"
        )
    return key


@dataclass(frozen=True)
class _Signer:
    """An issuer parsed: its certificate, its key, and the authorityKeyIdentifier of what it
    signs."""

    cert: x509.Certificate
    key: PrivateKey
    authority_key_id: x509.AuthorityKeyIdentifier


@lru_cache(maxsize=16)
def _signer(cert_pem: str, key_pem: str) -> _Signer:
    """An issuer parsed once, not once per certificate: apply signs every zone's with one CA.

    The authority key identifier repeats the issuer's subjectKeyIdentifier when it has one:
    OpenSSL and BoringSSL (Envoy) pass over an issuer whose SKI differs from the AKI, and an
    imported CA's SKI may be computed another way than meshprov's (a truncated SHA-256, as
    Go 1.25 and RFC 7093 do, or any value its PKI chose)."""
    from cryptography import x509

    check_issuer(Issuer(cert_pem, key_pem))
    ca_cert = load_certificate(cert_pem)
    try:
        ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
        authority_key_id = x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski)
    except x509.ExtensionNotFound:
        authority_key_id = x509.AuthorityKeyIdentifier.from_issuer_public_key(
            _issuer_public_key(ca_cert)
        )
    return _Signer(ca_cert, load_private_key(key_pem), authority_key_id)


# --- encoding and inspection ---------------------------------------------------------------


def cert_to_pem(cert: x509.Certificate) -> str:
    from cryptography.hazmat.primitives import serialization

    return cert.public_bytes(serialization.Encoding.PEM).decode()


def key_to_pem(key: PrivateKey) -> str:
    from cryptography.hazmat.primitives import serialization

    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def load_certificate(pem: str) -> x509.Certificate:
    from cryptography import x509

    return x509.load_pem_x509_certificate(pem.encode())


def load_certificates(pem: str) -> list[x509.Certificate]:
    from cryptography import x509

    return x509.load_pem_x509_certificates(pem.encode())


def load_private_key(pem: str) -> PrivateKey:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    key = serialization.load_pem_private_key(pem.encode(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
        raise ValueError("only ECDSA and RSA keys are supported")
    return key


def fingerprint(cert_pem: str) -> str:
    """SHA-256 of the certificate's DER encoding, hex."""
    return der_fingerprint(load_certificate(cert_pem))


def der_fingerprint(cert: x509.Certificate) -> str:
    from cryptography.hazmat.primitives import serialization

    return hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()


def bundle_fingerprints(pem: str) -> list[str]:
    """The fingerprints of every certificate of a PEM bundle; [] when it holds none."""
    try:
        return [der_fingerprint(c) for c in load_certificates(pem)]
    except ValueError:
        return []


@lru_cache(maxsize=256)
def signer_identities(pem: str) -> frozenset[str]:
    """What each certificate of a PEM bundle verifies as an issuer: its subject and public
    key (a digest of both). A certificate whose issuer name and signing key are another's
    subject and key verifies under it, whichever certificate of that key a client holds: a CA
    re-signed or renewed with its key kept still verifies what it signed before. Empty when
    the text holds no certificate. (Cached: every control plane of a CA holds the same
    bundle.)"""
    from cryptography.hazmat.primitives import serialization

    der, spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    try:
        certs = load_certificates(pem)
    except ValueError:
        return frozenset()
    return frozenset(
        hashlib.sha256(
            c.subject.public_bytes() + c.public_key().public_bytes(der, spki)
        ).hexdigest()
        for c in certs
    )


@lru_cache(maxsize=256)
def merge_bundles(*pems: str) -> str:
    """One trust bundle holding every certificate of ``pems`` once, in order of first
    appearance: the issuing chain first, then the CAs trusted besides it. (Cached: every
    zone of a CA asks for the same bundle.)"""
    seen: dict[str, x509.Certificate] = {}
    for pem in pems:
        for cert in load_certificates(pem):
            seen.setdefault(der_fingerprint(cert), cert)
    return "".join(cert_to_pem(cert) for cert in seen.values())


def subject_text(cert: x509.Certificate) -> str:
    return cert.subject.rfc4514_string() or "(empty subject)"


def not_after(cert_pem: str) -> datetime:
    return load_certificate(cert_pem).not_valid_after_utc


def not_before(cert_pem: str) -> datetime:
    return load_certificate(cert_pem).not_valid_before_utc


def serial_hex(cert_pem: str) -> str:
    return format(load_certificate(cert_pem).serial_number, "x")


def rfc3339(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def key_matches(cert_pem: str, key_pem: str) -> bool:
    """True when the private key belongs to the certificate's public key."""
    from cryptography.hazmat.primitives import serialization

    try:
        key = load_private_key(key_pem)
    except (ValueError, TypeError):
        return False
    public = serialization.PublicFormat.SubjectPublicKeyInfo
    encoding = serialization.Encoding.DER
    cert_public = load_certificate(cert_pem).public_key().public_bytes(encoding, public)
    return key.public_key().public_bytes(encoding, public) == cert_public


def stored_pair_problems(
    cert_pem: object, key_pem: object, issuer_pem: object, issuer_recorded: bool = True
) -> list[str]:
    """Why a certificate and key read back from state cannot be trusted, or nothing.

    State is a file a person can edit: the certificate or key may be unreadable or missing,
    the key may belong to another certificate, and the certificate may not be signed by the
    issuer it is recorded under (``issuer_pem``, the first certificate of that PEM; not
    checked when not ``issuer_recorded``: an imported CA given without its chain). The
    reasons never quote the PEMs.
    """
    try:
        cert = load_certificate(cert_pem) if isinstance(cert_pem, str) else None
    except ValueError:
        cert = None
    if cert is None:
        return ["the certificate in state is missing or not a PEM certificate"]
    problems = []
    if not isinstance(key_pem, str) or not _loads_key(key_pem):
        problems.append("the private key in state is missing or not a PEM private key")
    elif not key_matches(cert_to_pem(cert), key_pem):
        problems.append("the private key in state does not match its certificate")
    if not issuer_recorded:
        return problems
    try:
        issuer = load_certificate(issuer_pem) if isinstance(issuer_pem, str) else None
    except ValueError:
        issuer = None
    if issuer is None:
        problems.append("the issuing CA's certificate in state is missing or not a PEM certificate")
    elif not issued_by(cert, issuer):
        problems.append(f"the certificate is not signed by its CA ({subject_text(issuer)})")
    elif mismatch := key_id_mismatch(cert, issuer):
        problems.append(mismatch)
    return problems


def _loads_key(pem: str) -> bool:
    try:
        load_private_key(pem)
    except (ValueError, TypeError):
        return False
    return True


def issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    """True when ``issuer``'s key signed ``cert`` (and the names agree)."""
    from cryptography.exceptions import InvalidSignature

    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def key_id_mismatch(cert: x509.Certificate, issuer: x509.Certificate) -> str | None:
    """Why OpenSSL and BoringSSL (Envoy) would not take ``issuer`` as ``cert``'s issuer even
    though it signed it: ``cert``'s authorityKeyIdentifier names another key identifier than
    ``issuer``'s subjectKeyIdentifier. None when they agree or either is absent."""
    from cryptography import x509

    try:
        named = cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
        own = issuer.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    except (x509.ExtensionNotFound, ValueError):
        return None
    if named.key_identifier is None or named.key_identifier == own.digest:
        return None
    return (
        f"{subject_text(cert)} names its issuer's key identifier {named.key_identifier.hex()}, "
        f"but {subject_text(issuer)} has {own.digest.hex()}: OpenSSL and Envoy do not take it "
        "as the issuer"
    )


def issuer_among(
    cert: x509.Certificate, candidates: list[x509.Certificate]
) -> x509.Certificate | None:
    """The first of ``candidates`` that signed ``cert``, other than ``cert`` itself (a root
    signs itself), or None."""
    return next((c for c in candidates if c != cert and issued_by(cert, c)), None)


def check_issuer(issuer: Issuer) -> None:
    """Refuse to sign with a CA whose key is not its certificate's: what it signed would not
    chain to the certificate everyone trusts (a key swapped in a hand-edited state)."""
    if not _loads_key(issuer.key_pem) or not key_matches(issuer.cert_pem, issuer.key_pem):
        cert = load_certificate(issuer.cert_pem)
        raise ValueError(
            f"the private key of the CA {subject_text(cert)} does not match its certificate: "
            "refusing to issue a certificate that would not chain to it"
        )


def subject_alt_names(cert: x509.Certificate | str) -> tuple[list[str], list[str]]:
    """(DNS names, IP addresses) of a certificate (or of a PEM holding one)."""
    from cryptography import x509

    if isinstance(cert, str):
        cert = load_certificate(cert)
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return [], []
    dns = ext.value.get_values_for_type(x509.DNSName)
    ips = [str(ip) for ip in ext.value.get_values_for_type(x509.IPAddress)]
    return dns, ips


def missing_sans(cert: x509.Certificate, hostnames: list[str], addresses: list[str]) -> list[str]:
    """The configured names ``cert`` does not cover: ``["db.local (DNS)", "10.0.0.1 (IP)"]``."""
    dns, ips = subject_alt_names(cert)
    have_dns = {d.lower() for d in dns}
    have_ips = {ip_address(i) for i in ips}
    return [f"{h} (DNS)" for h in hostnames if h.lower() not in have_dns] + [
        f"{a} (IP)" for a in addresses if ip_address(a) not in have_ips
    ]


def ip_address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """An IP literal (brackets allowed, as in URLs), or None for a DNS name."""
    try:
        return ipaddress.ip_address(text.strip("[]"))
    except ValueError:
        return None


def verify_server_chain(
    chain: list[x509.Certificate], anchors: list[x509.Certificate], host: str, now: datetime
) -> list[x509.Certificate]:
    """Validate ``chain`` (leaf first) for ``host`` against ``anchors`` as a TLS client would;
    returns the verified path, leaf to anchor. Raises ``ValueError`` with the reason."""
    from cryptography import x509
    from cryptography.x509.verification import PolicyBuilder, Store, VerificationError

    ip = ip_address(host)
    subject = x509.IPAddress(ip) if ip is not None else x509.DNSName(host)
    verifier = PolicyBuilder().store(Store(anchors)).time(now).build_server_verifier(subject)
    try:
        return verifier.verify(chain[0], chain[1:])
    except VerificationError as exc:
        raise ValueError(str(exc).split(" (encountered processing", 1)[0]) from None


# --- imported CAs ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ImportedCA:
    """A CA an organisation's PKI issued, parsed and checked, as canonical PEM text."""

    cert_pem: str
    chain_pem: str  # cert_pem, then its issuers up to the root as far as they were given
    key_pem: str  # PKCS#8, unencrypted, like a generated CA's
    certificates: tuple[x509.Certificate, ...]  # the CA's own, then its issuers'


@dataclass(frozen=True)
class ImportProblem:
    """Why an imported CA is refused (or, for a warning, needs care): ``part`` is the input it
    is about, "certificate", "key" or "chain"; ``text`` never quotes the key."""

    part: str
    text: str


class ImportRefused(ValueError):
    """A CA that cannot be imported, with every reason found."""

    def __init__(self, problems: list[ImportProblem]):
        super().__init__("; ".join(f"the {p.part}: {p.text}" for p in problems))
        self.problems = problems


@lru_cache(maxsize=16)
def import_ca(cert_text: str, key_text: str, chain_text: str | None) -> ImportedCA:
    """Parse and check a CA to import: the certificate is one CA certificate allowed to sign
    certificates, the key is its key, and each certificate of the chain signed the one before
    it. Raises ``ImportRefused`` with every problem found. Time is not checked here
    (``imported_validity_problems``). Cached: validate, plan and apply each read the same CA."""
    problems: list[ImportProblem] = []
    certs = _pem_certificates(cert_text, "certificate", problems)
    if len(certs) > 1:
        problems.append(
            ImportProblem(
                "certificate",
                f"holds {len(certs)} certificates: give the CA's own certificate alone, and "
                "its issuers as its chain",
            )
        )
    cert = certs[0] if len(certs) == 1 else None
    if cert is not None:
        problem = _ca_problem(cert)
        if problem:
            problems.append(ImportProblem("certificate", f"{subject_text(cert)} {problem}"))
    key = _imported_key(key_text, problems)
    if cert is not None and key is not None and not key_matches(cert_to_pem(cert), key_text):
        problems.append(
            ImportProblem("key", f"does not match the certificate ({subject_text(cert)})")
        )
    chain = _pem_certificates(chain_text, "chain", problems) if chain_text else []
    if cert is not None and chain and der_fingerprint(chain[0]) == der_fingerprint(cert):
        chain = chain[1:]  # a chain file that starts with the CA itself, as many PKIs hand out
    for issuer in chain:
        problem = _ca_problem(issuer)
        if problem:
            problems.append(ImportProblem("chain", f"{subject_text(issuer)} {problem}"))
    if cert is not None:
        for child, issuer in zip([cert, *chain], chain, strict=False):
            # a weak signature cannot be checked, and is already refused as such
            if not _weak_digest(child) and not issued_by(child, issuer):
                problems.append(
                    ImportProblem(
                        "chain",
                        f"{subject_text(issuer)} did not sign {subject_text(child)}: give the "
                        "issuers in order, the CA's own issuer first, up to the root",
                    )
                )
            elif mismatch := key_id_mismatch(child, issuer):
                problems.append(ImportProblem("chain", f"{mismatch}: have your PKI reissue it"))
    if problems or cert is None or key is None:
        raise ImportRefused(problems)
    every = (cert, *chain)
    return ImportedCA(
        cert_to_pem(cert), "".join(cert_to_pem(c) for c in every), key_to_pem(key), every
    )


def _pem_certificates(
    text: str, part: str, problems: list[ImportProblem]
) -> list[x509.Certificate]:
    if "-----BEGIN CERTIFICATE-----" not in text:
        problems.append(
            ImportProblem(part, "holds no PEM certificate (-----BEGIN CERTIFICATE-----)")
        )
        return []
    try:
        return load_certificates(text)
    except ValueError:
        problems.append(ImportProblem(part, "is not valid PEM: a certificate cannot be read"))
        return []


def _imported_key(text: str, problems: list[ImportProblem]) -> PrivateKey | None:
    from cryptography.exceptions import UnsupportedAlgorithm

    try:
        return load_private_key(text)
    except TypeError:  # cryptography's word for "encrypted, and no password given"
        problems.append(
            ImportProblem(
                "key",
                "is encrypted: give it decrypted (openssl pkey -in KEY -out PLAIN), from a "
                "sensitive variable or a file only the operator can read",
            )
        )
    except (ValueError, UnsupportedAlgorithm):
        problems.append(ImportProblem("key", "is not a PEM private key of an ECDSA or RSA key"))
    return None


def _ca_problem(cert: x509.Certificate) -> str | None:
    """Why ``cert`` cannot be a CA whose certificates clients accept, or None."""
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    try:
        extensions = cert.extensions
    except ValueError:
        return "has an extension that cannot be parsed"
    try:
        constraints = extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        constraints = None
    if constraints is None or not constraints.ca:
        return "is not a CA certificate (basicConstraints CA:TRUE is missing)"
    try:
        usage = extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        usage = None
    if usage is None or not usage.key_cert_sign:
        return "may not sign certificates (keyUsage keyCertSign is missing)"
    key = cert.public_key()
    if not isinstance(key, ec.EllipticCurvePublicKey | rsa.RSAPublicKey):
        return f"has a {type(key).__name__}: only ECDSA and RSA CAs can sign"
    if isinstance(key, rsa.RSAPublicKey):
        bits, kind, least = key.key_size, "RSA", 2048
    else:
        bits, kind, least = key.curve.key_size, "EC", 256
    if bits < least:
        return (
            f"has a {bits}-bit {kind} key, too weak: OpenSSL at security level 2 (Debian's and "
            f"Ubuntu's default) refuses it. Use an {kind} key of {least} bits or more"
        )
    digest = _weak_digest(cert)
    if digest:
        return (
            f"is signed with {digest}, which Go's crypto/x509 refuses (kumactl, a zone's KDS "
            "client): have its issuer sign it with SHA-256 or stronger"
        )
    return None


def _weak_digest(cert: x509.Certificate) -> str | None:
    """SHA1 or MD5 when an issuer signed ``cert`` with it, else None (a root's signature on
    itself is never checked, so any digest does there)."""
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives import hashes

    if cert.issuer == cert.subject:
        return None
    try:
        digest = cert.signature_hash_algorithm
    except UnsupportedAlgorithm:
        return None
    return digest.name.upper() if isinstance(digest, hashes.SHA1 | hashes.MD5) else None


def signs_no_ca(cert_pem: str) -> bool:
    """True when ``cert_pem`` is a CA certificate with path length 0: it may sign end-entity
    certificates only. False for anything unreadable (its own checks say why)."""
    from cryptography import x509

    try:
        cert = load_certificate(cert_pem)
        constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    except (ValueError, x509.ExtensionNotFound):
        return False
    return constraints.path_length == 0


def imported_validity_problems(ca: ImportedCA, now: datetime) -> list[ImportProblem]:
    """The certificates of an imported CA that clients reject at ``now``: expired, or not
    valid yet (beyond the clock skew allowed for)."""
    problems = []
    for index, cert in enumerate(ca.certificates):
        part = "certificate" if index == 0 else "chain"
        if cert.not_valid_after_utc <= now:
            problems.append(
                ImportProblem(
                    part, f"{subject_text(cert)} expired at {rfc3339(cert.not_valid_after_utc)}"
                )
            )
        elif cert.not_valid_before_utc > now + CLOCK_SKEW:
            problems.append(
                ImportProblem(
                    part,
                    f"{subject_text(cert)} is not valid before "
                    f"{rfc3339(cert.not_valid_before_utc)}",
                )
            )
    return problems


def imported_expiring(
    ca: ImportedCA, renew_before: timedelta, now: datetime
) -> ImportProblem | None:
    """The imported certificate (the CA's or one of its issuers) that expires first, when that
    is within ``renew_before``: meshprov cannot renew it, the organisation's PKI must."""
    first = min(range(len(ca.certificates)), key=lambda i: ca.certificates[i].not_valid_after_utc)
    cert = ca.certificates[first]
    if not renewal_due(cert.not_valid_after_utc, renew_before, now):
        return None
    return ImportProblem(
        "certificate" if first == 0 else "chain",
        f"{subject_text(cert)} expires at {rfc3339(cert.not_valid_after_utc)}",
    )


def reaches_root(ca: ImportedCA) -> bool:
    """True when the last certificate given is a self-signed root: its own issuer by name and
    by key identifier. Its signature on itself is not checked, as TLS clients never check a
    trust anchor's: an old root signed with SHA-1 (which cannot be verified here) is a root."""
    last = ca.certificates[-1]
    return last.issuer == last.subject and key_id_mismatch(last, last) is None


# --- renewal ---------------------------------------------------------------------------------


def renewal_due(
    not_after: datetime,
    renew_before: timedelta,
    now: datetime,
    issuer_not_after: datetime | None = None,
) -> bool:
    """The renewal rule plan and verify share: due once ``now + renew_before`` reaches expiry;
    never while the certificate ends with its issuer (``issuer_not_after``): issued again it
    would end there too (validity is cut to the issuer's), so reissuing would repeat on every
    plan. The issuer's own renewal replaces it."""
    if issuer_not_after is not None and not_after >= issuer_not_after:
        return False
    return now + renew_before >= not_after


def validity_problem(
    cert: x509.Certificate,
    renew_before: timedelta,
    now: datetime,
    renew_label: str,
    issuer: x509.Certificate | None = None,
) -> str | None:
    """Why ``cert`` needs replacing at ``now`` (not yet valid, expired, due), or None;
    ``renew_label`` is ``renew_before`` as the user wrote it; ``issuer``, when known, is the
    CA that signed it (``renewal_due``)."""
    end = cert.not_valid_after_utc
    if cert.not_valid_before_utc > now:
        return f"is not valid before {rfc3339(cert.not_valid_before_utc)}"
    if end <= now:
        return f"expired at {rfc3339(end)}"
    issuer_end = issuer.not_valid_after_utc if issuer is not None else None
    if renewal_due(end, renew_before, now, issuer_end):
        return f"expires at {rfc3339(end)}, within its renew_before ({renew_label})"
    return None
