ca "root" {
  count       = 1.5
  common_name = "Root CA"
}
