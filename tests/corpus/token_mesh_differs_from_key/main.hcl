signing_key "dp" {
  kind = "dataplane"
  mesh = "default"
}

token "web" {
  signing_key = signing_key.dp
  mesh        = "payments"
}
