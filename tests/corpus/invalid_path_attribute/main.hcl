locals {
  dir = path.home
}
