ca "root" {
  common_name = "Root CA"
}

control_plane "global" {
  ca             = ca.root
  hostnames      = ["g.example.com"]
  api_https_port = 0.0000005
}
