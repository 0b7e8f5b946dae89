zones = [var.eu]
