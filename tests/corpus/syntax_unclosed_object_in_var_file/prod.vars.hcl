# production
zone_ips = {
  eu = "10.0.0.1"
  us = "10.0.0.2"
