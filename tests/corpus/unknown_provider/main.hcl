provider "gcp" {
  region = "europe-west1"
}
