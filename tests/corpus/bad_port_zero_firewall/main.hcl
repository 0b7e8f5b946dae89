firewall "kds" {
  security_group_ids = ["sg-1"]
  port               = 0
}
