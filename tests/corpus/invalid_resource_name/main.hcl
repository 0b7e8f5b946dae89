ca "1root" {
  common_name = "Root CA"
}
