locals {
  total = "many" + 1
}
