# values
zones = 5
