provider "aws" {
  region = "eu-west-1"
  retries = 3
}
