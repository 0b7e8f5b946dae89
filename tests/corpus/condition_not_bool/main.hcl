locals {
  v = "yes" ? 1 : 2
}
