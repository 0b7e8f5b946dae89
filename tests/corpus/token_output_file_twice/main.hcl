signing_key "users" {
  kind = "user"
}

token "alice" {
  signing_key = signing_key.users
  user_name   = "alice"
  output_file = "tokens/user.token"
}

token "bob" {
  signing_key = signing_key.users
  user_name   = "bob"
  output_file = "tokens/user.token"
}
