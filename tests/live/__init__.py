"""Live tests: a real `python -m stacks up` against a cluster (make test-live; skipped everywhere else)."""
