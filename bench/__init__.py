"""Benchmarks of the statuswatch engine: ``python -m bench.bench_engine [--quick | --scale]``.

Every run works under a Redis namespace and broker key prefix of its own
(``swbench-<random>``) and deletes only those keys when it ends.
"""
