"""Reusable test helpers and contract suites (imported by tests of every module)."""
