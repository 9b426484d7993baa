"""Benchmark evaluation: metrics, estimators, protocols and the report."""
