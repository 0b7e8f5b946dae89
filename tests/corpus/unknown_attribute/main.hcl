ca "root" {
  common_name = "Root CA"
  organisation = "Example"
}
