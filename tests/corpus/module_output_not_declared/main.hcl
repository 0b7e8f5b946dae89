module "zones" {
  source  = "./modules/zones"
  ca_name = "root"
}

output "ip" {
  value = module.zones.address
}
