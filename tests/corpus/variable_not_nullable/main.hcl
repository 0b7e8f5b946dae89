variable "region" {
  type     = string
  nullable = false
}
