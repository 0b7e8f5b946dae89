ca "root" {
  common_name = "Root CA"
}

zone "hub" {
  ca        = ca.root
  addresses = ["10.0.0.1"]
}

zone "eu" {
  ca        = ca.root
  global    = zone.hub
  addresses = ["10.0.0.2"]
}
