module "zones" {
  ip = "10.0.0.1"
}
