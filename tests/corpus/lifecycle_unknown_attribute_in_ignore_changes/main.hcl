ca "root" {
  common_name = "Root CA"

  lifecycle {
    ignore_changes = [comon_name]
  }
}
