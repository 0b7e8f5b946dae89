locals {
  n = parseint("zz", 10)
}
