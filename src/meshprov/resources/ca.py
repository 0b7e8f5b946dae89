"""``ca``: a certificate authority that signs control-plane certificates."""

from meshprov.lang.types import ANY
from meshprov.resources.schema import STRING, Attr, Exported, ResourceSchema, check_duration

KEY_ALGORITHMS = ("ECDSA_P256", "ECDSA_P384", "RSA_2048", "RSA_3072", "RSA_4096")

SCHEMA = ResourceSchema(
    "ca",
    attributes=(
        Attr("common_name", STRING, required=True, forces_replacement=True),
        Attr("organization", STRING, forces_replacement=True),
        Attr(
            "key_algorithm",
            STRING,
            default="ECDSA_P256",
            allowed=KEY_ALGORITHMS,
            forces_replacement=True,
        ),
        Attr("validity", STRING, default="87600h", check=check_duration, forces_replacement=True),
        Attr("renew_before", STRING, default="2160h", check=check_duration),
        Attr("parent", ANY, reference="ca", forces_replacement=True),
    ),
    exported=(
        Exported("id"),
        Exported("cert_pem"),
        Exported("chain_pem"),
        Exported("private_key_pem", sensitive=True),
        Exported("not_before"),
        Exported("not_after"),
        Exported("serial_number"),
    ),
)
