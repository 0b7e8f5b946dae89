signing_key "proxies" {
  kind = "zone_proxy"
  mesh = "default"
}
