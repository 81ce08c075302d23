"""Benchmarks of the toolkit against the way its seed repositories do the same work.

Run a benchmark as a module from the repository root, e.g.
`python -m benchmarks.pretrain_throughput --help`. Figures are recorded in BENCHMARKS.md.
"""
