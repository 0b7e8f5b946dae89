signing_key "users" {
  kind = "user"
}

token "alice" {
  signing_key = signing_key.users
  user_name   = "alice"
  mesh        = "default"
}
