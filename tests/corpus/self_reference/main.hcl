ca "root" {
  common_name = "Root CA"
  parent      = ca.root
}
