module "zones" {
  source = "./modules/zones"
}
