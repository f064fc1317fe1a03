"""The benchmarks of the tooling (`make bench`): each measures the program or a real run, and may import any room.

- programbench: the program's evaluation under mocks, against floors from the same run;
- realbench: `pulumi preview`/`up`/`destroy` on the local clusters against kubectl; nodechain: the app's chain on
  the real node; measure: rounds and medians; eventlog: where a run spends its time, from the engine's own events;
- migratebench: `migrate`'s write stop by the size of the data, between the two real nodes.

The page's own load benchmark is app/bench.py: it measures nginx, not kubeport.
"""
