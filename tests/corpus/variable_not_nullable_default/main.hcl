variable "region" {
  type     = string
  nullable = false
  default  = null
}
