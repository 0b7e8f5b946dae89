ca "cp" {
  common_name = "CP CA"
}

signing_key "users" {
  kind = "user"
}

signing_key "kds" {
  kind = "zone_cp"
}

signing_key "other_kds" {
  kind = "zone_cp"
}

control_plane "global" {
  ca            = ca.cp
  hostnames     = ["global.mesh.test"]
  kumactl_token = token.admin
}

token "admin" {
  signing_key = signing_key.users
  user_name   = "admin"
  groups      = ["mesh-system:admin"]
}
