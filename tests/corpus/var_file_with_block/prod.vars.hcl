zones = ["eu"]

zone "eu" {
}
