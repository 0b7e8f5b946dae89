ca "root" {
  common_name = "Root CA"
}

zonee "eu" {
  ca = ca.root
}
