locals "mine" {
  a = 1
}
