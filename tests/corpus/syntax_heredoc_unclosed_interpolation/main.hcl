locals {
  text = <<-EOT
    first
    hello ${var.name
  EOT
}

variable "name" {
  default = "x"
}
