variable "cp" {
  type    = object({ host = string })
  default = { host = "cp.example.com" }
}

locals {
  port = var.cp.port
}
