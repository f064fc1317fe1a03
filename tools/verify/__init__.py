"""Offline verification: the program under Pulumi's mocks, and what is checked from its output.

- mock_runner, fake_clouds: one run of the program under mocks, with stand-ins for the clouds' outputs;
- render, check, same_render, gen_config, diff, application_graph: rendered manifests and their scanners,
  renders compared across commits, the generated key docs, the portability diff, an application's graph;
- livesuite: `make test-live`, the live suite in groups.

Imports only the shared modules of tools/.
"""
