variable "zones" {
  type    = list(string)
  default = 5
}
