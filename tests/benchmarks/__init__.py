"""Tests of the benchmarks: each runs at smoke scale and reports what it claims."""
