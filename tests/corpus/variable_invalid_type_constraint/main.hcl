variable "zones" {
  type = lst(string)
}
