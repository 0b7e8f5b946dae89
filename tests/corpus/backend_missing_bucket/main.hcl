meshprov {
  backend "s3" {
    key = "meshprov.state"
  }
}
