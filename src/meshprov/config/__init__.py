"""The configuration as written: syntax checked into a model (``load``), variable values from
outside (``variables``). Evaluating it (the graph and the walk) is the engine's job."""
