"""The BenchOpt comparison matrix as whole commands: `optbench run benchmarks/matrix.toml --no-report`
against `python benchmarks/hand_matrix.py` (the same 800 runs hand-vectorised), timed alternately.

Prints each command's median wall time and the median of the paired ratios.
Run: ``python benchmarks/bench_matrix.py [--repeat N] [--executor serial|processes]``.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def timed(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main(repeat: int, executor: str) -> None:
    hand = [sys.executable, str(HERE / "hand_matrix.py")]
    pairs = []
    with tempfile.TemporaryDirectory() as folder:
        for i in range(repeat + 1):
            ours = [sys.executable, "-m", "optbench.cli", "run", str(HERE / "matrix.toml"), "--no-report", "--force",
                    "--executor", executor, "--out", str(Path(folder) / f"run{i}")]
            pair = (timed(ours), timed(hand))
            if i:  # the first pair warms the caches
                pairs.append((*pair, pair[0] / pair[1]))
    a, b, r = np.median(np.array(pairs), axis=0)
    print(f"matrix 8 problems x 10 methods x 10 seeds, 1,000 it.: optbench run ({executor}) {a:.2f} s, "
          f"hand numpy {b:.2f} s, ratio {r:.2f} (target <= 1.7)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--executor", default="serial")
    args = parser.parse_args()
    main(args.repeat, args.executor)
