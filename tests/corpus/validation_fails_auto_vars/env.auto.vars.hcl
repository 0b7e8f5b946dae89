environment = "docker"
