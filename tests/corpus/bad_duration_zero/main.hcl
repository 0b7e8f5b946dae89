ca "root" {
  common_name  = "Root CA"
  renew_before = "0h"
}
