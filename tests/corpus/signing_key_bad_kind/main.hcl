signing_key "k" {
  kind = "kds"
}
