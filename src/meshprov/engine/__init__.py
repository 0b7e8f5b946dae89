"""The engine: the dependency graph, the walk that evaluates a configuration into resource
instances, and the configuration as a run sees it (``configuration``). Planning and applying
build on it; it knows resource types only through ``meshprov.resources``."""
