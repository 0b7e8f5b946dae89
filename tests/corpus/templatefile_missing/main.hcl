locals {
  env = templatefile("${path.module}/env.tpl", { port = 5685 })
}
