ca "a" {
  common_name = "A"
  parent      = ca.b
}

ca "b" {
  common_name = "B"
  parent      = ca.a
}
