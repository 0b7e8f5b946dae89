ca "root" {
  common_name = "Root CA"
}

zone "eu" {
  ca = ca.root
}
