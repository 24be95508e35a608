"""Code the tests (and benchmarks) use that is not a test and does not ship: the throwaway PostgreSQL server."""
