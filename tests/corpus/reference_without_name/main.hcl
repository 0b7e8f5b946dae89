ca "root" {
  common_name = "Root CA"
}

zone "eu" {
  ca        = ca
  addresses = ["10.0.0.1"]
}
