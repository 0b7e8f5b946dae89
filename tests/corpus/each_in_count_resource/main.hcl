ca "root" {
  count       = 2
  common_name = "CA ${each.key}"
}
