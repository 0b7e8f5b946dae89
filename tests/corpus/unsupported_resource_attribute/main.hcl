ca "root" {
  common_name = "Root CA"
}

output "fp" {
  value = ca.root.fingerprint
}
