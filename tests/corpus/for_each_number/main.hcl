ca "root" {
  for_each    = 3
  common_name = "CA ${each.key}"
}
