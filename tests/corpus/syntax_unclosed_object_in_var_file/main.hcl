variable "zone_ips" {
  type = map(string)
}
