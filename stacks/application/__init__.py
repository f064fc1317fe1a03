"""An application of workload files (kubeport:application), one module per step, in the order it runs:

- source: a file's bytes read as untrusted YAML and held to the published Score schema;
- spec: the data model (Application, Workload, Container, Resource, ...);
- placeholders: `${...}` parsed in one place;
- parse: the files read into the model, each field checked, the files checked against each other;
- provisioned: what a provisioner gets and gives (Request, Provisioned);
- provision: what a typed resource (postgres, redis, s3, volume) becomes on the selected target;
- checks: the files checked against the stack (the target provisions every resource, the routes fit the host):
  `load()`, what the program calls before any resource;
- convert: a workload into what components.ServiceWorkload takes, placeholders filled in;
- deploy: the orchestration, the only step that creates resources besides provision.

Each step imports only the steps before it (tests/program/test_layout.py holds this). This package imports
nothing at import time: the program loads a step when it needs it.
"""
