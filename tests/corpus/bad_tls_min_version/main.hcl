ca "root" {
  common_name = "Root CA"
}

zone "eu" {
  ca        = ca.root
  addresses = ["10.0.0.1"]
  tls_min_version = "TLSv1_1"
}
