signing_key "kds" {
  kind = "zone_cp"
}

token "eu" {
  signing_key = signing_key.kds
  zone        = "EU_West"
}
