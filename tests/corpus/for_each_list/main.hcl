ca "root" {
  for_each    = ["a", "b"]
  common_name = "CA ${each.key}"
}
