module "zones" {
  source = "./modules/zones"
  ip     = "10.0.0.2"
}
