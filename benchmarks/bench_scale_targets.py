"""Issue 26's scale targets, each measured in a fresh process, all in one run, with the machine's load average.

    python benchmarks/bench_scale_targets.py [--repeat 1] [--skip-1m] [--cache /tmp/optbench-scale-targets]

Writes (once, cached under ``--cache``) synthetic folders in the store's format
(``synthetic_results.py``, no optimizer runs) and measures, in a child process each
(``VmHWM``: its peak resident memory; the child imports this checkout's optbench):

- ``report 100k``: ``optbench report`` of 20 problems x 20 solvers x 250 seeds (100,000 runs,
  2.8 M trace rows, 4.5 M hits): <= 1 GiB and <= 60 s (stretch 0.5 GiB, 20 s);
- ``report bbob 360``: 24 functions x 5 instances x dims 2, 5, 10, one solver, 5 seeds:
  <= 5 MiB on disk and <= 60 s;
- ``report bbob 2160``: the shipped bbob suite's shape (problems/bbob.toml: 24 x 15 x 6 dims,
  one solver, one seed): <= 20 MiB and <= 3 min;
- ``1M leaderboard + ECDF``: ``optbench.analysis_sql.leaderboard`` and ``runtime_ecdf`` of
  40 problems x 25 solvers x 1,000 seeds (1,000,000 runs, 28 M trace rows): <= 2 GiB and <= 2 min.

It prints the median of ``--repeat`` runs of each (wall-clock and CPU seconds), the verdicts,
and the load average before and after (other processes slow a 2-core machine down: at a load of
4 a process gets about half the wall-clock time of its CPU time).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]  # the checkout: children import its optbench, not an installed one
PRELUDE = "import json, sys, time\nfolder, out = sys.argv[1], sys.argv[2]\nstarted = time.perf_counter()\n"
EPILOGUE = ("\nimport resource\nusage = resource.getrusage(resource.RUSAGE_SELF)\n"
            "hwm = next(int(line.split()[1]) for line in open('/proc/self/status') if line.startswith('VmHWM'))\n"
            "print(json.dumps({'seconds': time.perf_counter() - started, 'peak_mib': hwm / 1024, 'size_mib': size,\n"
            "                  'cpu_s': usage.ru_utime + usage.ru_stime}))\n")
REPORT = ("from optbench.report import report\nfrom pathlib import Path\npath = report(folder, out)\n"
          "size = sum(p.stat().st_size for p in Path(out).rglob('*') if p.is_file()) / 2**20")
SQL = ("from optbench import analysis_sql\nboard = analysis_sql.leaderboard(folder)\n"
       "ecdf = analysis_sql.runtime_ecdf(folder)\nassert len(board) == 1000 and len(ecdf) == 25 * 200\nsize = 0.0")
# name: (folder shape, child code, peak MiB target, seconds target, size MiB target)
TARGETS = {
    "report 100k": ({"problems": 20, "solvers": 20, "seeds": 250}, REPORT, 1024, 60, None),
    "report bbob 360": ({"bbob": (24, 5, (2, 5, 10)), "seeds": 5}, REPORT, None, 60, 5),
    "report bbob 2160": ({"bbob": (24, 15, (2, 3, 5, 10, 20, 40)), "seeds": 1}, REPORT, None, 180, 20),
    "1M leaderboard + ECDF": ({"problems": 40, "solvers": 25, "seeds": 1000}, SQL, 2048, 120, None),
}


def folder_for(shape: dict, cache: Path) -> Path:
    """The cached synthetic folder of ``shape``, written by a child process when missing."""
    name = re.sub(r"[^0-9A-Za-z]+", "_", "-".join(f"{k}{v}" for k, v in shape.items())).strip("_")
    folder = cache / name
    if (folder / "runs.parquet").is_file():
        return folder
    code = ("import sys, json; sys.path.insert(0, sys.argv[1]); import synthetic_results as s\n"
            "shape = json.loads(sys.argv[3])\n"
            "if 'bbob' in shape:\n"
            "    f, i, d = shape['bbob']; keys = s.bbob_keys(f, i, tuple(d))\n"
            "    s.write_results(sys.argv[2], problems=f * i * len(d), solvers=1, seeds=shape['seeds'], keys=keys)\n"
            "else:\n"
            "    s.write_results(sys.argv[2], shape['problems'], shape['solvers'], shape['seeds'], chunk_runs=50_000)\n")
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", code, str(ROOT / "benchmarks"), str(folder), json.dumps(shape)], check=True,
                   env=_env())
    print(f"synthetic results written in {time.perf_counter() - started:.0f} s: {folder}", flush=True)
    return folder


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "MPLBACKEND": "Agg"}


def measure(code: str, folder: Path, repeat: int) -> dict[str, float]:
    """Median seconds, peak MiB, output MiB and CPU seconds of ``code`` over ``repeat`` fresh processes."""
    results = []
    for _ in range(repeat):
        with tempfile.TemporaryDirectory() as out:
            done = subprocess.run([sys.executable, "-c", PRELUDE + code + EPILOGUE, str(folder), out],
                                  capture_output=True, text=True, env=_env())
            if done.returncode != 0:
                raise SystemExit(f"failed:\n{done.stderr[-2000:]}")
            results.append(json.loads(done.stdout.strip().splitlines()[-1]))
    return {key: statistics.median(r[key] for r in results) for key in ("seconds", "peak_mib", "size_mib", "cpu_s")}


def verdicts(found: dict[str, float], peak: float | None, seconds: float, size: float | None) -> str:
    parts = [f"<= {seconds:g} s {'met' if found['seconds'] <= seconds else 'NOT met'}"]
    if peak is not None:
        parts.append(f"<= {peak:g} MiB {'met' if found['peak_mib'] <= peak else 'NOT met'}")
    if size is not None:
        parts.append(f"<= {size:g} MiB on disk {'met' if found['size_mib'] <= size else 'NOT met'}")
    return ", ".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--skip-1m", action="store_true", help="leave out the million-run measurement (its folder: 1.3 GB)")
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "optbench-scale-targets")
    args = parser.parse_args()
    names = [n for n in TARGETS if not (args.skip_1m and n.startswith("1M"))]
    folders = {name: folder_for(TARGETS[name][0], args.cache) for name in names}
    load_before = os.getloadavg()
    print(f"load average before: {', '.join(f'{x:.1f}' for x in load_before)} on {os.cpu_count()} cores", flush=True)
    for name in names:
        _, code, peak, seconds, size = TARGETS[name]
        found = measure(code, folders[name], args.repeat)
        print(f"{name:<22} {found['seconds']:6.1f} s ({found['cpu_s']:.0f} s CPU) {found['peak_mib']:7.0f} MiB peak"
              + (f" {found['size_mib']:6.1f} MiB on disk" if code is REPORT else "")
              + f"  (median of {args.repeat}; {verdicts(found, peak, seconds, size)})", flush=True)
    print(f"load average after: {', '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
