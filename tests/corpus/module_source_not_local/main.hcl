module "zones" {
  source = "kong/zones/aws"
}
