"""Benchmarks (`make bench`): figures printed and written to BENCHMARKS.md, never asserted."""
