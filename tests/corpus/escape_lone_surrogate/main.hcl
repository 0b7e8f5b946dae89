locals {
  ok = "fine"
  x  = "\uD800"
}
