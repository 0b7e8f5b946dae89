# Authentication on every channel: signing keys and tokens issued offline, no anonymous admin.
#
# One global control plane and two zones (one on Universal, one on Kubernetes). Every kind of
# Kong Mesh token is issued by meshprov with keys it keeps in its state; every control plane
# accepts only those keys, with its own token issuer and secret-stored keys turned off.
#
# Run it:  meshprov validate && meshprov plan && meshprov apply   (see README.md)

ca "cp" {
  common_name  = "Kong Mesh control-plane CA"
  organization = "Example Corp"
}

# --- the keys: one per kind of token --------------------------------------------------------

# people and CI: kumactl and the API server (5682)
signing_key "users" {
  kind = "user"
}

# data plane proxies of mesh "default" → their zone CP (5678)
signing_key "dataplanes" {
  kind = "dataplane"
  mesh = "default"
}

# zone ingress and egress proxies → their zone CP (5678)
signing_key "zone_proxies" {
  kind = "zone_proxy"
}

# zone control planes → the global over KDS (5685), Kong Mesh's cpToken
signing_key "kds" {
  kind = "zone_cp"
}

# --- the control planes -------------------------------------------------------------------

control_plane "global" {
  ca        = ca.cp
  hostnames = ["global.mesh.example.com"]
  addresses = ["10.0.0.10"]

  user_token_keys = [signing_key.users]
  kds_token_keys  = [signing_key.kds]
  admin_groups    = ["mesh-system:admin"]
  kumactl_token   = token.admin
}

zone "eu_west" {
  ca         = ca.cp
  global     = control_plane.global
  hostnames  = ["cp.eu-west.mesh.example.com"]
  addresses  = ["10.10.0.10"]
  egress_ips = ["198.51.100.10"]

  user_token_keys       = [signing_key.users]
  dp_token_keys         = [signing_key.dataplanes]
  zone_proxy_token_keys = [signing_key.zone_proxies]
  kds_token             = token.kds_eu_west
  kumactl_token         = token.admin
}

# On Kubernetes, proxies present service-account tokens: no dataplane or zone proxy keys.
zone "eu_central" {
  ca          = ca.cp
  global      = control_plane.global
  environment = "kubernetes"
  hostnames   = ["cp.eu-central.mesh.example.com"]
  egress_ips  = ["198.51.100.20"]

  user_token_keys = [signing_key.users]
  kds_token       = token.kds_eu_central
  kumactl_token   = token.admin
}

# --- the tokens ---------------------------------------------------------------------------

# an administrator: group mesh-system:admin is bound to the admin role on every CP
token "admin" {
  signing_key = signing_key.users
  user_name   = "alice@example.com"
  groups      = ["mesh-system:admin"]
  validity    = "168h"
}

# a read-only user for CI (bind group "ci" to a role of your own with kumactl)
token "ci" {
  signing_key = signing_key.users
  user_name   = "ci"
  groups      = ["ci"]
  validity    = "720h"
  output_file = "tokens/ci.token"
}

# each zone's KDS token; its zone is the zone's name (the zone refers to the token)
token "kds_eu_west" {
  signing_key = signing_key.kds
  zone        = "eu-west"
  validity    = "8760h"
}

token "kds_eu_central" {
  signing_key = signing_key.kds
  zone        = "eu-central"
  validity    = "8760h"
}

# a data plane proxy: bound to its mesh, name and service tag
token "web_01" {
  signing_key    = signing_key.dataplanes
  mesh           = "default"
  dataplane_name = "web-01"
  tags           = { "kuma.io/service" = ["web"] }
  output_file    = "tokens/dataplanes/web-01.token"
}

# the zone ingress and the zone egress of eu-west
token "eu_west_ingress" {
  signing_key = signing_key.zone_proxies
  zone        = "eu-west"
  scope       = ["ingress"]
  output_file = "tokens/eu-west-ingress.token"
}

token "eu_west_egress" {
  signing_key = signing_key.zone_proxies
  zone        = "eu-west"
  scope       = ["egress"]
  output_file = "tokens/eu-west-egress.token"
}
