ca "root" {
  for_each    = null
  common_name = "CA ${each.key}"
}
