variable "ca" {
  type = string
  default = "x"
}}
