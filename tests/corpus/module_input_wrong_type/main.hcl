module "zones" {
  source  = "./modules/zones"
  ca_name = ["root"]
}
