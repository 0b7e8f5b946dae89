ca "cp" {
  common_name = "CP CA"
}

signing_key "users" {
  kind = "user"
}

signing_key "kds" {
  kind = "zone_cp"
}

signing_key "other_kds" {
  kind = "zone_cp"
}

signing_key "ingress_a" {
  kind = "zone_proxy"
}

signing_key "ingress_b" {
  kind = "zone_proxy"
}

zone "eu_west" {
  ca                    = ca.cp
  addresses             = ["10.0.0.1"]
  zone_proxy_token_keys = [signing_key.ingress_a]
}

token "ingress" {
  signing_key = signing_key.ingress_b
  zone        = "eu-west"
}
