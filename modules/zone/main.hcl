# A zone control plane joined to a global control plane.

variable "name" {
  description = "The Kuma zone name (an RFC 1035 label)."
  type        = string
}

variable "ca" {
  description = "The ca resource that signs this zone's control-plane certificate."
}

variable "global" {
  description = "The control_plane resource this zone connects to over KDS."
}

variable "hostnames" {
  type    = list(string)
  default = []
}

variable "addresses" {
  type    = list(string)
  default = []
}

variable "egress_ips" {
  description = "Where this zone dials the global from; null means its addresses."
  type        = list(string)
  default     = null
}

variable "environment" {
  type    = string
  default = "universal"

  validation {
    condition     = contains(["universal", "kubernetes"], var.environment)
    error_message = "environment must be \"universal\" or \"kubernetes\"."
  }
}

zone "this" {
  name        = var.name
  ca          = var.ca
  global      = var.global
  environment = var.environment
  hostnames   = var.hostnames
  addresses   = var.addresses
  egress_ips  = var.egress_ips
  output_dir  = "out/zones/${var.name}"
}

output "zone_name" {
  value = zone.this.zone_name
}

output "cp_url" {
  value = zone.this.cp_url
}

output "egress_cidrs" {
  value = zone.this.egress_cidrs
}

output "zone" {
  description = "The zone resource itself, for firewall allow_zones."
  value       = zone.this
}
