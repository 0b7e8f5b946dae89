ca "root" {
  common_name = "Root CA"
}

zone "eu" {
  ca           = ca.root
  environment  = "kubernetes"
  service_name = "Kong_Mesh"
}
