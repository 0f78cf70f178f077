"""The benchmark harness of issue 8: a data generator (``bench.generate``), the scenarios with
their SQL floor (``bench.run``), the measuring helpers (``bench.measure``) and the report
(``bench.report``). Run with ``make bench`` (full scale) or ``make bench BENCH_ARGS=--small``."""
