ca "root" {
  common_name = "Root CA"
}

locals {
  name = "x"
}

zone "eu" {
  ca         = ca.root
  addresses  = ["10.0.0.1"]
  depends_on = [local.name]
}
