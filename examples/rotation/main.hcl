# Replacing the control planes' CA without an outage, in three applies (README.md).
#
# Kong Mesh 2.14 data planes and zones trust only the CA bundle they started with, so the new
# CA goes into every bundle first, the certificates switch to it next, and the old CA leaves
# last. `phase` says how far the rotation has come.

variable "phase" {
  description = "0: before the rotation; 1: cp_2027 trusted too; 2: certificates issued by cp_2027; 3: cp_2026 gone."
  type        = number
  default     = 0

  validation {
    condition     = contains([0, 1, 2, 3], var.phase)
    error_message = "The phase is 0, 1, 2 or 3."
  }
}

# the CA in service before the rotation; destroyed in phase 3
ca "cp_2026" {
  count = var.phase < 3 ? 1 : 0

  common_name  = "Kong Mesh control-plane CA 2026"
  organization = "Example Corp"
}

# its successor, created in phase 1
ca "cp_2027" {
  count = var.phase >= 1 ? 1 : 0

  common_name  = "Kong Mesh control-plane CA 2027"
  organization = "Example Corp"
}

locals {
  # who signs the control planes' certificates
  issuing_ca = var.phase >= 2 ? ca.cp_2027[0] : ca.cp_2026[0]
  # what clients trust besides it: the next CA before the switch, the previous one after it
  # (kuma-cp serves its old certificate until it restarts)
  trusted_cas = var.phase == 1 ? ca.cp_2027 : var.phase == 2 ? ca.cp_2026 : []
}

control_plane "global" {
  ca          = local.issuing_ca
  trusted_cas = local.trusted_cas
  hostnames   = ["global.mesh.example.com"]
  addresses   = ["127.0.0.1"]
}

zone "eu" {
  ca          = local.issuing_ca
  trusted_cas = local.trusted_cas
  global      = control_plane.global
  hostnames   = ["cp.eu.mesh.example.com"]
  addresses   = ["127.0.0.1"]
  egress_ips  = ["198.51.100.10"]
}
