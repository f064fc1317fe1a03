"""kubeport's tooling: what operates on stacks from outside the Pulumi program.

`python -m tools` is the command line: offline render, check and diff (the program under Pulumi's mocks),
preview/up/destroy/migrate on the Automation API, the local clusters for real runs, and the benchmarks.
The program (`__main__.py`, `stacks/`, `components/`) never imports this package; this package imports them.
"""
