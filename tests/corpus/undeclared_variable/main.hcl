ca "root" {
  common_name = "Root CA"
}

zone "eu" {
  ca        = ca.root
  addresses = [var.zone_ip]
}
