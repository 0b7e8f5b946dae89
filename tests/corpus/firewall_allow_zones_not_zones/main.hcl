ca "root" {
  common_name = "Root CA"
}

firewall "kds" {
  security_group_ids = ["sg-1"]
  allow_zones        = [ca.root]
}
