# The state for CI: in S3, never on a runner's disk. Copy this file into the configuration
# directory (MESHPROV_DIR) and set your bucket, key and region.
#
# The state holds every private key, so it is also encrypted before it leaves the runner
# (AES-256-GCM, a key derived from the passphrase in MESHPROV_STATE_PASSPHRASE, which the
# workflow takes from a repository secret); saved plans (plan.bin) are encrypted the same way.
# encrypt = true adds S3's own server-side encryption. Turn on versioning on the bucket: each
# state write is then a version you can go back to.

meshprov {
  backend "s3" {
    bucket  = "acme-meshprov-state"
    key     = "kong-mesh/prod/meshprov.json"
    region  = "eu-west-1"
    encrypt = true
  }

  encryption {
    passphrase_env = "MESHPROV_STATE_PASSPHRASE"
  }
}
