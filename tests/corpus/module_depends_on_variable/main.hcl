variable "x" {
  default = 1
}

module "m" {
  source     = "./m"
  depends_on = [var.x]
}
