"""asv benchmark suites (asv_*.py) and scripts that print ratios against baselines (compare.py, bench_*.py)."""
