ca "root" {
  common_name = "Root CA"
}

zone "EU" {
  ca        = ca.root
  addresses = ["10.0.0.1"]
}
