locals {
  zones = ["eu", "us"]
  third = local.zones[2]
}
