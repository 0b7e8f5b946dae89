locals {
  now = timestamp()
}
