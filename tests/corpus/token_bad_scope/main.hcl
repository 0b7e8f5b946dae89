signing_key "proxies" {
  kind = "zone_proxy"
}

token "ingress" {
  signing_key = signing_key.proxies
  zone        = "eu-west"
  scope       = ["ingress", "cp"]
}
