"""Test support shared by the test suite and the benchmarks; never imported by a running node."""
