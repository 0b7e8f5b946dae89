ca "root" {
  count       = "two"
  common_name = "Root CA"
}
