"""asv: forward + backward of small MLPs for 1 and 16 runs."""

import numpy as np

from optbench.backprop import MLP


class TimeBackprop:
    params = (["2-32-32-1", "2-64-64-1", "10-128-10"], [1, 16])
    param_names = ["sizes", "runs"]

    def setup(self, sizes, runs):
        widths = [int(w) for w in sizes.split("-")]
        multi = widths[-1] > 1
        self.net = MLP(widths, output="softmax" if multi else "sigmoid", loss="cross-entropy" if multi else "bce")
        rng = np.random.default_rng(0)
        self.X = rng.standard_normal((256, widths[0]))
        self.y = rng.integers(0, widths[-1], 256) if multi else rng.integers(0, 2, 256).astype(float)
        self.theta = self.net.init_params(rng, n_runs=runs) if runs > 1 else self.net.init_params(rng)

    def time_loss_and_grad(self, sizes, runs):
        self.net.loss_and_grad(self.theta, self.X, self.y)

    def time_loss(self, sizes, runs):
        self.net.loss(self.theta, self.X, self.y)
