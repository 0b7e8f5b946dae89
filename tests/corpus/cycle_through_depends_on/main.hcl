ca "a" {
  common_name = "A"
  depends_on  = [ca.b]
}

ca "b" {
  common_name = "B"
  depends_on  = [ca.a]
}
