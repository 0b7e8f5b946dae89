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
  ca             = ca.cp
  hostnames      = ["global.mesh.test"]
  kds_token_keys = [signing_key.kds]
}

zone "eu_west" {
  ca        = ca.cp
  global    = control_plane.global
  addresses = ["10.0.0.1"]
  kds_token = token.kds
}

token "kds" {
  signing_key = signing_key.kds
  zone        = "us-east"
}
