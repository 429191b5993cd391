"""Throughput and memory measurements of leaktrace against the tools people use instead.

``python -m bench`` (or ``make bench``) generates a synthetic capture with
planted identifiers, runs ``leaktrace analyze`` and the peers on it in one
run, prints the comparison and writes it to ``bench/results/``.
"""
