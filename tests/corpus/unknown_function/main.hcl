locals {
  name = uppercase("root")
}
