variable "region" {
  typ = string
}
