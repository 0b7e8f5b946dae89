module "zones" {
  source  = "./modules/zones"
  ca_name = "root"
  ips     = ["10.0.0.1"]
}
