"""Minibatch gradient-descent trainers with a scikit-learn interface."""

__all__: list[str] = []
