ca "root" {
  count       = -1
  common_name = "Root CA"
}
