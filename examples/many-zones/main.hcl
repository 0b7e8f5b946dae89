# Many zones from one map variable, through modules/zone with for_each.

variable "zones" {
  description = "Zone name → its control plane's hostname and egress IP."
  type = map(object({
    hostname  = string
    egress_ip = string
  }))
  default = {
    eu-west  = { hostname = "cp.eu-west.mesh.example.com", egress_ip = "198.51.100.10" }
    us-east  = { hostname = "cp.us-east.mesh.example.com", egress_ip = "203.0.113.20" }
    ap-south = { hostname = "cp.ap-south.mesh.example.com", egress_ip = "192.0.2.30" }
  }
}

variable "firewall" {
  description = "Manage the AWS security-group rules in front of the global's KDS port."
  type        = bool
  default     = false
}

variable "global_security_group_ids" {
  type    = list(string)
  default = ["sg-0123456789abcdef0"]
}

variable "aws_region" {
  type    = string
  default = "eu-west-1"
}

variable "aws_endpoint_url" {
  description = "An AWS emulator's URL; null means real AWS."
  type        = string
  default     = null
}

provider "aws" {
  region       = var.aws_region
  endpoint_url = var.aws_endpoint_url
}

module "global" {
  source       = "../../modules/global-cp"
  organization = "Example Corp"
  hostnames    = ["global.mesh.example.com"]
}

module "zones" {
  source     = "../../modules/zone"
  for_each   = var.zones
  name       = each.key
  ca         = module.global.ca
  global     = module.global.control_plane
  hostnames  = [each.value.hostname]
  egress_ips = [each.value.egress_ip]
}

firewall "kds" {
  count              = var.firewall ? 1 : 0
  security_group_ids = var.global_security_group_ids
  allow_zones        = [for z in module.zones : z.zone]
}

output "zone_cp_urls" {
  value = { for name, z in module.zones : name => z.cp_url }
}
