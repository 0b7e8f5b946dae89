ca "root" {
  common_name = "Root CA"
}

ca "issuing" {
  common_name = "Issuing CA"
  parent      = ca.root
}

ca "leaf_ca" {
  common_name = "Leaf CA"
  parent      = ca.issuing
}
