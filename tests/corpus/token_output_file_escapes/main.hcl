signing_key "users" {
  kind = "user"
}

token "alice" {
  signing_key = signing_key.users
  user_name   = "alice"
  output_file = "../shared/alice.token"
}
