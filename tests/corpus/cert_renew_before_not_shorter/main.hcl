ca "cp" {
  common_name = "cp CA"
}

zone "eu" {
  ca            = ca.cp
  hostnames     = ["cp.eu.mesh.example.com"]
  cert_validity = "24h"
  renew_before  = "23h56m"
}
