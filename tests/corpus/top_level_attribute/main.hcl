ca "root" {
  common_name = "Root CA"
}

region = "eu-west-1"
