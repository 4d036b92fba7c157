"""An example optbench plugin: gradient descent with a clipped gradient norm."""

import numpy as np

import optbench as ob


class ClippedGD(ob.Method):
    """Clipped gradient descent: ``D = -g * min(1, max_norm / ||g||)``, per run."""

    default_step_rule = {"name": "constant", "lr": 0.1}

    def __init__(self, max_norm: float = 1.0):
        if not max_norm > 0:
            raise ValueError(f"max_norm must be > 0, got {max_norm}")
        self.max_norm = max_norm

    def direction(self, X, G, state, k):
        norm = np.sqrt(np.einsum("ij,ij->i", G, G))
        scale = np.minimum(1.0, self.max_norm / np.maximum(norm, 1e-300))
        return -G * scale[:, None], state
