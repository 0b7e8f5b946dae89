module "pki" {
  source = "./pki"
}
