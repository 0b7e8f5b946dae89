"""Renderers: they take a model (graph, plan, state) and return text; they decide nothing."""
