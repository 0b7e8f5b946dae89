ca "root" {
  common_name = "Root"
}

token "alice" {
  signing_key = ca.root
  user_name   = "alice"
}
