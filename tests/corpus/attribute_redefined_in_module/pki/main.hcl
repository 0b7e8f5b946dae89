ca "root" {
  common_name = "Root CA"
  validity    = "90d"
  validity    = "180d"
}
