signing_key "k" {
  kind     = "user"
  key_size = 1024
}
