ca "root" {
  organization = "Example"
}
