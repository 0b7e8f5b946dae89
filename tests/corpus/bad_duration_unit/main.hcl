ca "root" {
  common_name = "Root CA"
  validity    = "10y"
}
