module "zones" {
  source  = "./modules/zones"
  count   = 2
  ca_name = "root"
}

output "ips" {
  value = module.zones[0].address
}
