meshprov {
  encryption {
    fallback_passphrase_env = "OLD_KEY"
  }
}
