variable "cp" {
  type = object({ host = string, port = number })
}
