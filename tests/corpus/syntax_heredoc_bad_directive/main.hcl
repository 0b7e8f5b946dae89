locals {
  text = <<-EOT
    %{ while true }x%{ endwhile }
  EOT
}
