ca "root" "extra" {
  common_name = "Root CA"
}
