module "env" {
  source      = "./env"
  environment = "docker"
}
