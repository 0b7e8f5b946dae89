locals {
  pem = <<EOT
line one
line two
}
