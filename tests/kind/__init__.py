"""The kind stack, live: a real `python -m stacks up` against kind with Docker (make test-kind; skipped elsewhere)."""
