# prod
zones = ["eu" "us"]
