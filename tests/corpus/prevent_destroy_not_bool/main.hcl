ca "root" {
  common_name = "Root CA"

  lifecycle {
    prevent_destroy = "yes"
  }
}
