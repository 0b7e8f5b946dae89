ca "root" {
  common_name = "Root CA"
}

control_plane "global" {
  ca        = ca.root
  hostnames = ["global.example.com"]
}

zone "eu" {
  ca        = control_plane.global
  addresses = ["10.0.0.1"]
}
