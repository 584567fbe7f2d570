"""Benchmarks: run each as a module from the checkout, e.g. `.venv/bin/python -m bench.screening`."""
