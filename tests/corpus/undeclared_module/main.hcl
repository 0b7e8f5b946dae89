output "x" {
  value = module.zones.ids
}
