ca "root" {
  common_name = "Root CA"
}

zone "eu" {
  ca        = ca.root
  addresses = "10.0.0.1"
}
