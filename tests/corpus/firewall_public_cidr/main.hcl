firewall "kds" {
  security_group_ids = ["sg-0123456789abcdef0"]
  allow_cidrs        = ["10.0.0.0/8", "0.0.0.0/0"]
}
