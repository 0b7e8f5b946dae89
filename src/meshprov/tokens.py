"""Kong Mesh tokens issued offline: RSA signing keys and the JWTs they sign (PyJWT).

What Kong Mesh 2.14 accepts (kumahq/kuma v2.14.3 ``pkg/core/tokens``, ``pkg/tokens/builtin``;
``shared/reference/kuma-authn-and-k8s.md`` §1):

* JWS RS256 with a string ``kid`` in the header, looked up among the control plane's static
  public keys. Signing keys are PKCS#1 PEM (``RSA PRIVATE KEY``: what kumactl's
  ``--signing-key-path`` accepts), public keys PKCS#1 PEM (``RSA PUBLIC KEY``).
* Registered claims as the built-in issuer sets them: ``jti`` a random UUID, ``iat`` = ``nbf``
  = issue time − 5 s, ``exp`` = issue time + validity. No ``iss``/``sub``/``aud``.
* Custom claims are the Go field names of each kind's claims struct: user ``Name``/``Groups``,
  dataplane ``Name``/``Mesh``/``Tags``/``Workload``, zone ``Zone``/``Scope``. Go marshals every
  field, so an unset claim is its zero value (``""``, ``[]``, ``{}``), which Kong Mesh treats
  as "not bound".

A ``kid`` is the first 16 hex digits of the SHA-256 of the public key's DER
SubjectPublicKeyInfo: stable for a key, different for every key, and checkable with openssl.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric import rsa


KINDS = ("user", "dataplane", "zone_proxy", "zone_cp")
KEY_SIZES = (2048, 3072, 4096)
ALGORITHM = "RS256"
# Kong Mesh backdates iat and nbf by five seconds for clock skew (core/tokens/issuer.go)
CLOCK_SKEW = timedelta(seconds=5)

# Each kind's claims: Kong Mesh's claim name → (the token argument that sets it, its zero value)
CLAIMS: dict[str, tuple[tuple[str, str, Any], ...]] = {
    "user": (("Name", "user_name", ""), ("Groups", "groups", [])),
    "dataplane": (
        ("Name", "dataplane_name", ""),
        ("Mesh", "mesh", ""),
        ("Tags", "tags", {}),
        ("Workload", "workload", ""),
    ),
    "zone_proxy": (("Zone", "zone", ""), ("Scope", "scope", [])),
    "zone_cp": (("Zone", "zone", ""),),
}
# the argument each kind cannot do without
REQUIRED = {"user": "user_name", "dataplane": "mesh", "zone_proxy": "zone", "zone_cp": "zone"}
# claims a kind always carries, whatever the arguments say (kumactl generate zone-token --scope cp)
FIXED_CLAIMS: dict[str, dict[str, Any]] = {"zone_cp": {"Scope": ["cp"]}}
ZONE_PROXY_SCOPES = ("ingress", "egress")


def arguments_of(kind: str) -> tuple[str, ...]:
    """The token arguments that become claims for tokens of ``kind``."""
    return tuple(argument for _, argument, _ in CLAIMS[kind])


def claim_arguments() -> frozenset[str]:
    """Every argument that is a claim of some kind."""
    return frozenset(argument for kind in KINDS for argument in arguments_of(kind))


def claims(kind: str, arguments: Mapping[str, Any]) -> dict[str, Any]:
    """The kind's custom claims from the token's arguments (unset ones as Go's zero values)."""
    out: dict[str, Any] = {}
    for claim, argument, zero in CLAIMS[kind]:
        value = arguments.get(argument)
        out[claim] = zero if value is None else value
    out.update(FIXED_CLAIMS.get(kind, {}))
    return out


# --- signing keys ----------------------------------------------------------------------------


@dataclass(frozen=True)
class SigningKey:
    """An RSA signing key as state keeps it: PKCS#1 PEMs and the key id."""

    private_key_pem: str
    public_key_pem: str
    kid: str


def generate_signing_key(key_size: int) -> SigningKey:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=key_size)
    private_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,  # PKCS#1: "RSA PRIVATE KEY"
        serialization.NoEncryption(),
    ).decode()
    public = key.public_key()
    return SigningKey(private_pem, _public_pem(public), _kid(public))


def key_id(public_key_pem: str) -> str:
    """The kid of a public key (PEM, PKCS#1 or SubjectPublicKeyInfo)."""
    return _kid(_load_public(public_key_pem))


def _public_pem(public: rsa.RSAPublicKey) -> str:
    from cryptography.hazmat.primitives import serialization

    return public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.PKCS1
    ).decode()


def _kid(public: rsa.RSAPublicKey) -> str:
    from cryptography.hazmat.primitives import serialization

    der = public.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(der).hexdigest()[:16]


@lru_cache(maxsize=64)
def _load_private(private_key_pem: str) -> rsa.RSAPrivateKey:
    """A signing key parsed once, not once per token: one key signs thousands of tokens."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = serialization.load_pem_private_key(private_key_pem.encode(), password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError("a token signing key must be an RSA key")
    return key


@lru_cache(maxsize=256)
def _load_public(public_key_pem: str) -> rsa.RSAPublicKey:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = serialization.load_pem_public_key(public_key_pem.encode())
    if not isinstance(key, rsa.RSAPublicKey):
        raise ValueError("a token public key must be an RSA key")
    return key


# --- issuing ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class IssuedToken:
    token: str
    jti: str
    issued_at: datetime  # iat and nbf
    expires_at: datetime


def issue(
    private_key_pem: str,
    kid: str,
    custom_claims: Mapping[str, Any],
    now: datetime,
    validity: timedelta,
    jti: str | None = None,
) -> IssuedToken:
    """Sign a token as Kong Mesh's own issuer would, with ``now`` as the issue time."""
    import jwt

    moment = now.astimezone(UTC).replace(microsecond=0)
    issued_at = moment - CLOCK_SKEW
    expires_at = moment + validity
    token_id = jti or str(uuid.uuid4())
    payload = {
        **custom_claims,
        "jti": token_id,
        "iat": int(issued_at.timestamp()),
        "nbf": int(issued_at.timestamp()),
        "exp": int(expires_at.timestamp()),
    }
    token = jwt.encode(
        payload, _load_private(private_key_pem), algorithm=ALGORITHM, headers={"kid": kid}
    )
    return IssuedToken(token, token_id, issued_at, expires_at)


# --- checking --------------------------------------------------------------------------------


class TokenInvalid(Exception):
    """Why a token would be refused; the message never holds the token itself."""


@dataclass(frozen=True)
class CheckedToken:
    kid: str
    claims: dict[str, Any]  # custom and registered claims, as signed
    expires_at: datetime


def check(token: str, public_keys: Mapping[str, str], now: datetime) -> CheckedToken:
    """Validate ``token`` as a control plane with these public keys (kid → PEM) would at ``now``:
    the kid is listed, the RS256 signature verifies, ``nbf`` has passed and ``exp`` has not."""
    import jwt

    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        raise TokenInvalid("it is not a JWT") from None
    kid = header.get("kid")
    if not isinstance(kid, str):
        raise TokenInvalid("its header has no string kid")
    if header.get("alg") != ALGORITHM:
        raise TokenInvalid(f"it is signed with {header.get('alg')}, not {ALGORITHM}")
    if kid not in public_keys:
        raise TokenInvalid(f"its key {kid} is not among the public keys the control plane lists")
    try:
        payload = jwt.decode(
            token,
            _load_public(public_keys[kid]),
            algorithms=[ALGORITHM],
            options={"verify_exp": False, "verify_nbf": False, "verify_iat": False},
        )
    except jwt.InvalidSignatureError:
        raise TokenInvalid(f"its signature does not verify with key {kid}") from None
    except jwt.PyJWTError as exc:
        raise TokenInvalid(f"it cannot be decoded: {exc}") from None
    # times are checked here, against the given moment, as Kong Mesh does (no leeway)
    moment = int(now.timestamp())
    exp, nbf = payload.get("exp"), payload.get("nbf")
    if not isinstance(exp, int):
        raise TokenInvalid("it has no exp claim")
    expires_at = datetime.fromtimestamp(exp, UTC)
    if moment >= exp:
        raise TokenInvalid(f"it expired at {expires_at:%Y-%m-%dT%H:%M:%SZ}")
    if isinstance(nbf, int) and moment < nbf:
        raise TokenInvalid("it is not valid yet (nbf)")
    return CheckedToken(kid, payload, expires_at)
