# Quickstart: one CA, a global control plane, two zones and the firewall in front of KDS.
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

control_plane "global" {
  ca        = ca.cp
  hostnames = ["global.mesh.example.com"]
  addresses = ["127.0.0.1"]
}

zone "eu_west" {
  ca         = ca.cp
  global     = control_plane.global
  hostnames  = ["cp.eu-west.mesh.example.com"]
  addresses  = ["10.10.0.10"]
  egress_ips = ["198.51.100.10"]
}

zone "us_east" {
  ca         = ca.cp
  global     = control_plane.global
  hostnames  = ["cp.us-east.mesh.example.com"]
  addresses  = ["10.20.0.10"]
  egress_ips = ["203.0.113.20"]
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
