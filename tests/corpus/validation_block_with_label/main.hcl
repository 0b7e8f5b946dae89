variable "a" {
  default = 1

  validation "positive" {
    condition     = var.a > 0
    error_message = "a must be positive."
  }
}
