variable "name" {
  default = "root"
}

ca "${var.name}" {
  common_name = "Root CA"
}
