ca "root" {
  common_name = "Root CA"
}

zone "eu" {
  ca               = ca.root
  environment      = "kubernetes"
  hostnames        = ["cp.eu.mesh.test"]
  zone_proxy_authn = "zoneToken"
}
