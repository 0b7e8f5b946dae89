variable "token" {
  default   = "x"
  sensitive = "yes"
}
