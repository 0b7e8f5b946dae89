# another root
ca "root" {
  common_name = "Other"
}
