ca "root" {
  common_name = "Root \q CA"
}
