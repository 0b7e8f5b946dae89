firewall "kds" {
  security_group_ids = []
}
