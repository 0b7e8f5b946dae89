ca "root" {
  common_name = "Root CA"
}

output "id" {
  value = ca.root.id
}

output "id" {
  value = ca.root.cert_pem
}
