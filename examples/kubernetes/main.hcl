# Kubernetes: one CA, a global control plane and two zones, each on its own cluster.
#
# apply writes, per control plane, a secrets.yaml (the Secrets the kong-mesh Helm chart mounts)
# and a values.yaml (the chart values that point at them). See README.md.
#
# Run it:  meshprov validate && meshprov plan && meshprov apply

variable "namespace" {
  description = "The namespace kong-mesh is installed in on every cluster."
  type        = string
  default     = "kong-mesh-system"
}

locals {
  # zone name => the zone control plane's address and the egress IP it dials the global from
  zones = {
    "eu-west" = { hostname = "kong-mesh-cp.eu-west.mesh.example.com", egress_ip = "198.51.100.10" }
    "us-east" = { hostname = "kong-mesh-cp.us-east.mesh.example.com", egress_ip = "203.0.113.20" }
  }
}

# The CA that signs the control planes' certificates (not the mesh's mTLS CA).
ca "cp" {
  common_name  = "Kong Mesh control-plane CA"
  organization = "Example Corp"
}

# The global control plane. Zones dial it on KDS (5685) by its first hostname, so that name
# must resolve to its KDS LoadBalancer Service from every zone cluster.
control_plane "global" {
  ca          = ca.cp
  environment = "kubernetes"
  namespace   = var.namespace
  hostnames   = ["kds.global.mesh.example.com"]

  # the API server (5682) gets a certificate of its own: Secret api-server-tls
  api_separate_cert = true
}

# One zone control plane per cluster. On Kubernetes, proxies authenticate with their service
# account tokens (dp_authn and zone_proxy_authn default to "serviceAccountToken" there), and
# the certificate also carries the in-cluster Service names sidecars and webhooks use:
# kong-mesh-control-plane.<namespace>(.svc, .svc.cluster.local).
zone "cluster" {
  for_each = local.zones

  name        = each.key
  ca          = ca.cp
  global      = control_plane.global
  environment = "kubernetes"
  namespace   = var.namespace
  hostnames   = [each.value.hostname]
  egress_ips  = [each.value.egress_ip]
}

# Only the zones' egress IPs may reach the global's KDS LoadBalancer Service: a Helm values
# overlay (loadBalancerSourceRanges) to pass after the global's values.yaml.
firewall "kds" {
  allow_zones      = values(zone.cluster)
  helm_values_file = "helm/kds-firewall.yaml"
}

output "kds_address" {
  description = "What each zone's kuma.controlPlane.kdsGlobalAddress is set to."
  value       = control_plane.global.kds_address
}

output "helm_values" {
  description = "The values.yaml to install each control plane with."
  value = merge(
    { global = "${control_plane.global.output_dir}/values.yaml" },
    { for key, z in zone.cluster : z.zone_name => "${z.output_dir}/values.yaml" },
  )
}
