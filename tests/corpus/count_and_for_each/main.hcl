ca "root" {
  count       = 2
  for_each    = toset(["a"])
  common_name = "Root CA"
}
