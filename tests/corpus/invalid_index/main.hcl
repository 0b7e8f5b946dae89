locals {
  ports = { kds = 5685 }
  dp    = local.ports["dp"]
}
