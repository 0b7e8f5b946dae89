ca "root" {
  common_name =
  organization = "x"
}
