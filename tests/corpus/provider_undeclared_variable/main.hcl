provider "aws" {
  region       = "eu-west-1"
  endpoint_url = var.endpoint
}
