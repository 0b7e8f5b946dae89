ca "root" {
  common_name = "Root CA"
  key_algorithm = "RSA_2048"
  common_name = "Other CA"
}
