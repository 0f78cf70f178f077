"""Load runs of issue 8/9 (RELIABILITY L): ``make load``; see docs/benchmarks.md "Load"."""
