locals {
  greeting = "%{ if true }hello"
}
