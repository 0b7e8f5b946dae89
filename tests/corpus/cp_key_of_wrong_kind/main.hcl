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
  ca              = ca.cp
  hostnames       = ["global.mesh.test"]
  user_token_keys = [signing_key.users, signing_key.kds]
}
