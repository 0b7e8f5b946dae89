ca "root" {
  for_each    = toset([1, 2])
  common_name = "CA ${each.key}"
}
