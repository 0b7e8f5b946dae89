ca "root" {
  common_name = trimspace(file("${path.module}/cn.txt"))
}
