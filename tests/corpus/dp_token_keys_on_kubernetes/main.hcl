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

signing_key "dp" {
  kind = "dataplane"
}

zone "eu_west" {
  ca               = ca.cp
  environment      = "kubernetes"
  addresses        = ["10.0.0.1"]
  dp_authn         = "serviceAccountToken"
  zone_proxy_authn = "serviceAccountToken"
  dp_token_keys    = [signing_key.dp]
}
