locals {
  greeting = "hello%{ endif }"
}
