ca "root" {
  common_name = "Root CA"
}

output "key" {
  value = ca.root.private_key_pem
}
