locals {
  region = config.region
}
