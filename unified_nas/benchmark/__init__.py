"""Benchmarks: one recipe across backends and seeds, and the comparison report."""
