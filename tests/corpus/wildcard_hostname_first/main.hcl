ca "cp" {
  common_name = "cp CA"
}

zone "eu" {
  ca        = ca.cp
  hostnames = ["*.eu.mesh.example.com", "cp.eu.mesh.example.com"]
}
