variable "region" {
  default = "x"
}
