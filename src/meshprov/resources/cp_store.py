"""The global control plane's resource store (SPEC §1.5): the ``store`` block, its rules, the
settings it gives kuma-cp, and what ``verify`` checks of them.

Without a block a Universal global keeps every policy in memory, so a restart loses them all:
a warning. On Kubernetes the store is the cluster's, so a block is an error. kuma-cp refuses to
start with ``verifyCa``/``verifyFull`` and no CA path, so that is an error too; ``disable`` and
``verifyNone`` send the password to a server nobody verified: a warning.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from meshprov import kuma, pki
from meshprov.diagnostics import Diagnostic, error, warning
from meshprov.lang.types import ANY
from meshprov.lang.values import ResourceValue, Unknown, has_unknown, unmark
from meshprov.plan.model import Action, ResourceChange
from meshprov.resources.base import ResourceInstance
from meshprov.resources.control_plane_common import check_port
from meshprov.resources.report import Notice, RowBuilder, VerifyContext
from meshprov.resources.schema import NUMBER, STRING, Attr
from meshprov.state.model import ResourceState

MEMORY_STORE = "memory_store"  # the diagnostic code of a Universal global with no store
STORE_TLS_UNVERIFIED = "store_tls_unverified"  # ... of a store whose server is not verified
CODES = frozenset({MEMORY_STORE, STORE_TLS_UNVERIFIED})


def _not_empty(value: Any) -> str | None:
    if isinstance(value, str) and not value.strip():
        return "The value is empty: kuma-cp refuses to start with an empty one."
    return None


STORE = Attr(
    "store",
    ANY,
    block=(
        Attr("type", STRING, required=True, allowed=(kuma.POSTGRES_STORE,)),
        Attr("host", STRING, required=True, check=_not_empty),
        Attr("port", NUMBER, default=5432, check=check_port),
        Attr("user", STRING, required=True, check=_not_empty),
        Attr("password", STRING, required=True, sensitive=True, check=_not_empty),
        Attr("db_name", STRING, required=True, check=_not_empty),
        Attr(
            "tls_mode", STRING, default=kuma.StoreTlsMode.VERIFY_FULL, allowed=kuma.STORE_TLS_MODES
        ),
        Attr("tls_ca", ANY, reference="ca"),
    ),
)


def check(instance: ResourceInstance) -> list[Diagnostic]:
    """The store rules of one global control plane."""
    store = instance.values.get(STORE.name)
    environment = instance.values.get("environment")
    if store is None:
        if environment != "universal":
            return []
        return [
            warning(
                "Policies kept in memory",
                f"{instance.address} has no store block, so kuma-cp keeps every mesh, policy "
                "and secret in memory: a restart loses them all. Give it a PostgreSQL store: "
                'store { type = "postgres", host = ..., user = ..., password = ..., '
                "db_name = ..., tls_ca = ... }.",
                instance.range,
                code=MEMORY_STORE,
            )
        ]
    if environment == "kubernetes":
        return [
            error(
                "Store on Kubernetes",
                f"{instance.address} runs on Kubernetes, where kuma-cp keeps its resources in "
                "the cluster: the store block is for Universal globals only. Remove it.",
                instance.argument_range(STORE.name),
            )
        ]
    mode = store.get("tls_mode")
    if has_unknown(mode):
        return []
    if mode in kuma.STORE_TLS_NEEDS_CA and unmark(store.get("tls_ca"))[0] is None:
        return [
            error(
                "Store CA missing",
                f'tls_mode = "{mode}" verifies the database server\'s certificate, and kuma-cp '
                "refuses to start without the CA that does it (CAPath cannot be empty). Set "
                "tls_ca to the ca that issued the database server's certificate.",
                instance.argument_range(f"{STORE.name}.tls_mode"),
            )
        ]
    if mode in kuma.STORE_TLS_UNVERIFIED:
        return [
            warning(
                "Store server not verified",
                f'{instance.address} sets tls_mode = "{mode}": kuma-cp sends the database '
                + (
                    "password unencrypted"
                    if mode == kuma.StoreTlsMode.DISABLE
                    else "password to a server whose certificate nobody checks"
                )
                + '. Use "verifyFull" with tls_ca.',
                instance.argument_range(f"{STORE.name}.tls_mode"),
                code=STORE_TLS_UNVERIFIED,
            )
        ]
    return []


def warnings(change: ResourceChange) -> list[str]:
    """The store's insecure settings in ``change.after``, one sentence each (security impact)."""
    after = change.after or {}
    store = after.get(STORE.name)
    if after.get("environment") != "universal":
        return []
    if store is None:
        return [
            f"{change.address} keeps every policy in memory (no store): a restart of kuma-cp "
            "loses them all"
        ]
    mode = store.get("tls_mode") if isinstance(store, dict) else None
    if mode in kuma.STORE_TLS_UNVERIFIED:
        return [
            f"{change.address} sends its database password to an unverified server "
            f"(store tls_mode = {mode})"
        ]
    return []


# what names the database: another value is another database, empty until migrated
_DATABASE = ("host", "port", "db_name")


def notices(change: ResourceChange) -> list[Notice]:
    """kuma-cp refuses to start on a database without its schema ("database is not
    migrated", kumahq/kuma v2.14.3 ``pkg/plugins/resources/postgres/plugin.go``): a store
    that is new, or names another database, is migrated first."""
    if change.action is Action.DELETE:
        return []
    before = (change.before or {}).get(STORE.name)
    after = (change.after or {}).get(STORE.name)
    if not isinstance(after, dict):
        return []
    if isinstance(before, dict) and all(before.get(k) == after.get(k) for k in _DATABASE):
        return []
    return [
        Notice(
            change.address,
            f"run {kuma.STORE_MIGRATE} (with {kuma.Files.CP_ENV}) before starting kuma-cp",
            f"its store is a new database, {after.get('db_name')} on {after.get('host')}: "
            "kuma-cp refuses to start until it holds Kong Mesh's schema",
        )
    ]


def settings(config: dict[str, Any]) -> kuma.StoreSettings | None:
    """The store kuma-cp is given, from the checked arguments (fully known)."""
    store = config.get(STORE.name)
    if store is None:
        return None
    ca = _chain(store.get("tls_ca"))
    return kuma.StoreSettings(
        host=store["host"],
        port=int(store["port"]),
        user=store["user"],
        password=store["password"],
        db_name=store["db_name"],
        tls_mode=store["tls_mode"],
        ca_pem=ca if isinstance(ca, str) else None,
    )


def unknown(config: dict[str, Any]) -> bool:
    """Whether the files cannot be rendered yet: the store's CA is created by this plan."""
    store = config.get(STORE.name)
    return isinstance(store, dict) and isinstance(_chain(store.get("tls_ca")), Unknown)


def _chain(ca: Any) -> Any:
    """A referenced CA's chain (what verifies the database server), or None."""
    raw = unmark(ca)[0]
    if isinstance(raw, ResourceValue):
        return unmark(raw.get("chain_pem"))[0]
    return raw  # None, or unknown


# --- verify ----------------------------------------------------------------------------------


def verify(
    row: RowBuilder,
    rs: ResourceState,
    context: VerifyContext,
    env: dict[str, str],
    where: str,
    read: Callable[[str], tuple[str | None, str | None]],
) -> None:
    """A Universal global's store settings in its kuma-cp.env (``env``, read from ``where``)
    against the state, and the CA file against the chain of the ``tls_ca`` in the state.
    ``read(path)`` reads the file a CP-host path names: (text, None) or (None, problem)."""
    store = rs.attributes.get(STORE.name)
    if not isinstance(store, dict):
        row.failed("store", "the state's store is not a map; the state was edited by hand?")
        return
    want = {
        kuma.StoreEnv.TYPE: kuma.POSTGRES_STORE,
        kuma.StoreEnv.HOST: store.get("host"),
        kuma.StoreEnv.PORT: str(store.get("port")),
        kuma.StoreEnv.USER: store.get("user"),
        kuma.StoreEnv.DB_NAME: store.get("db_name"),
        kuma.StoreEnv.TLS_MODE: store.get("tls_mode"),
    }
    wrong = [name for name, value in want.items() if env.get(name) != value]
    if not env.get(kuma.StoreEnv.PASSWORD):
        wrong.append(kuma.StoreEnv.PASSWORD)
    if wrong:
        row.failed(
            "store",
            f"{where} does not set {', '.join(wrong)} as the configuration says (values not "
            "shown: one is a password)",
        )
    else:
        row.passed("store", f"{where} sets the postgres store on {store.get('host')}")
    mode = store.get("tls_mode")
    if mode in kuma.STORE_TLS_UNVERIFIED:
        row.warn("store_tls", f"tls_mode = {mode}: the database server is not verified")
    ca_address = store.get("tls_ca")
    if ca_address is None:
        return
    ca_state = context.state.resources.get(str(ca_address))
    ca = ca_state.attributes.get("chain_pem") if ca_state is not None else None
    path = env.get(kuma.StoreEnv.TLS_CA_PATH)
    if not path:
        row.failed("store_tls", f"{where} does not set {kuma.StoreEnv.TLS_CA_PATH}")
        return
    text, problem = read(path)
    if problem is not None:
        row.failed("store_tls", problem)
    elif not isinstance(ca, str):
        row.failed("store_tls", f"its tls_ca {ca_address} is not in the state")
    elif pki.bundle_fingerprints(text or "") != pki.bundle_fingerprints(ca):
        row.failed("store_tls", f"{path} is not the chain of {ca_address}")
    else:
        row.passed("store_tls", f"{path} holds the chain of {ca_address}")
