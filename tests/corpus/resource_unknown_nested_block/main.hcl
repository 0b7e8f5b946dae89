ca "root" {
  common_name = "Root CA"

  timeouts {
    create = "1m"
  }
}
