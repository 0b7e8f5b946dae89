ca "root" {
  common_name = "Root CA"
}

zone "eu" {
  ca          = ca.root
  environment = "kubernetes"
  dp_authn    = "dpToken"
}
