"""Benchmarks: ratios against a raw baseline measured in the same run (DESIGN.md §6)."""
