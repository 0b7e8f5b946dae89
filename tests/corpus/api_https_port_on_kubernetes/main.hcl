ca "root" {
  common_name = "Root CA"
}

control_plane "global" {
  ca             = ca.root
  environment    = "kubernetes"
  api_https_port = 443
}
