firewall "kds" {
  security_group_ids = ["sg-0123456789abcdef0"]
  allow_cidrs        = ["192.0.2.0/33"]
}
