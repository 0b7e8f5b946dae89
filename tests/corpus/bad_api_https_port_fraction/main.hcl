ca "root" {
  common_name = "Root CA"
}

control_plane "global" {
  ca             = ca.root
  hostnames      = ["g.example.com"]
  api_https_port = 5682.5
}
