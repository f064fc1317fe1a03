"""The kind stack, live: a real `python -m tools up` against kind with Docker (make test-kind; skipped elsewhere)."""
