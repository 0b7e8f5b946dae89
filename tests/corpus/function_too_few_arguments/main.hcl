locals {
  name = replace("eu_west", "_")
}
