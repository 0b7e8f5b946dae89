# A global control plane with its own CA, and the firewall in front of its KDS port.

variable "name" {
  type    = string
  default = "global"
}

variable "organization" {
  type    = string
  default = null
}

variable "hostnames" {
  type    = list(string)
  default = []
}

variable "addresses" {
  type    = list(string)
  default = []
}

variable "environment" {
  type    = string
  default = "universal"
}

ca "this" {
  common_name  = "${var.name} control-plane CA"
  organization = var.organization
}

control_plane "this" {
  ca          = ca.this
  environment = var.environment
  hostnames   = var.hostnames
  addresses   = var.addresses
  output_dir  = "out/${var.name}"
}

output "ca" {
  value = ca.this
}

output "control_plane" {
  value = control_plane.this
}

output "kds_address" {
  value = control_plane.this.kds_address
}
