# Quickstart: one CA, a global control plane, two zones and the firewall in front of KDS,
# with an admin user token for kumactl and a key for the data plane proxies' tokens.
#
# Run it:  meshprov validate && meshprov plan && meshprov apply
# The firewall (AWS security-group rules) is off by default, so these need no AWS account;
# turn it on with --var firewall=true (make demo does, against a local AWS emulator).

variable "firewall" {
  description = "Manage the AWS security-group rules in front of the global's KDS port."
  type        = bool
  default     = false
}

variable "aws_endpoint_url" {
  description = "Set to an AWS emulator's URL (the demo starts one); null means real AWS."
  type        = string
  default     = null
}

variable "global_security_group_id" {
  description = "The security group in front of the global control plane."
  type        = string
  default     = "sg-0123456789abcdef0"
}

provider "aws" {
  region       = "eu-west-1"
  endpoint_url = var.aws_endpoint_url
}

ca "cp" {
  common_name  = "Kong Mesh control-plane CA"
  organization = "Example Corp"
}

# Signs the user tokens the control planes' API servers accept (their own issuers are off).
signing_key "users" {
  kind = "user"
}

# Signs the tokens of data plane proxies; the zones accept no others.
signing_key "dataplanes" {
  kind = "dataplane"
  mesh = "default"
}

# The administrator's token: kumactl.sh registers every control plane with it.
token "admin" {
  signing_key = signing_key.users
  user_name   = "admin"
  groups      = ["mesh-system:admin"]
  validity    = "168h"
}

# A data plane proxy's token, for kuma-dp on its host (--dataplane-token-file).
token "web_01" {
  signing_key    = signing_key.dataplanes
  mesh           = "default"
  dataplane_name = "web-01"
  output_file    = "tokens/web-01.token"
}

# No store block: the global keeps its policies in memory (validate and plan warn), fine for a
# demo. In production give it store { type = "postgres", ... } (see README.md).
control_plane "global" {
  ca        = ca.cp
  hostnames = ["global.mesh.example.com"]
  addresses = ["127.0.0.1"]

  user_token_keys = [signing_key.users]
  kumactl_token   = token.admin
}

zone "eu_west" {
  ca         = ca.cp
  global     = control_plane.global
  hostnames  = ["cp.eu-west.mesh.example.com"]
  addresses  = ["10.10.0.10"]
  egress_ips = ["198.51.100.10"]

  user_token_keys = [signing_key.users]
  dp_token_keys   = [signing_key.dataplanes]
  kumactl_token   = token.admin
}

zone "us_east" {
  ca         = ca.cp
  global     = control_plane.global
  hostnames  = ["cp.us-east.mesh.example.com"]
  addresses  = ["10.20.0.10"]
  egress_ips = ["203.0.113.20"]

  user_token_keys = [signing_key.users]
  dp_token_keys   = [signing_key.dataplanes]
  kumactl_token   = token.admin
}

firewall "kds" {
  count = var.firewall ? 1 : 0

  security_group_ids = [var.global_security_group_id]
  port               = control_plane.global.kds_port
  allow_zones        = [zone.eu_west, zone.us_east]
}

output "kds_address" {
  value = control_plane.global.kds_address
}

output "zone_cp_urls" {
  value = { for z in [zone.eu_west, zone.us_east] : z.zone_name => z.cp_url }
}
