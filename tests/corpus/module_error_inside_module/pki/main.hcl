ca "root" {
  common_name   = "Root CA"
  key_algorithm = "DSA"
}
