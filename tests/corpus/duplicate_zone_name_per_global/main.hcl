ca "root" {
  common_name = "Root CA"
}

control_plane "global" {
  ca        = ca.root
  hostnames = ["global.example.com"]
}

zone "eu" {
  ca        = ca.root
  global    = control_plane.global
  addresses = ["10.0.0.1"]
}

zone "eu_1" {
  ca        = ca.root
  global    = control_plane.global
  name      = "eu"
  addresses = ["10.0.0.2"]
}
