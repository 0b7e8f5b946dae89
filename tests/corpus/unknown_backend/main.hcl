meshprov {
  backend "gcs" {
    bucket = "x"
  }
}
