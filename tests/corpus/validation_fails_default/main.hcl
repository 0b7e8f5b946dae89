variable "environment" {
  type    = string
  default = "vm"

  validation {
    condition     = contains(["universal", "kubernetes"], var.environment)
    error_message = "environment must be universal or kubernetes."
  }
}
