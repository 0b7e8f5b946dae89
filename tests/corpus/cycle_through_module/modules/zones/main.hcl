variable "ca_name" {
  type = string
}

variable "ip" {
  type    = string
  default = "10.0.0.1"
}

output "ip" {
  value = var.ip
}
