# renew_before keeps its default (2160h): longer than the CA's whole lifetime
ca "short" {
  common_name = "short-lived CA"
  validity    = "1000h"
}

zone "eu" {
  ca        = ca.short
  hostnames = ["cp.eu.mesh.example.com"]
}
