ca "root" {
  common_name = "Root CA"
}

control_plane "global" {
  ca        = ca.root
  addresses = ["global.example.com"]
}
