locals {
  region = "eu-west-1"
}

locals {
  region = "us-east-1"
}
