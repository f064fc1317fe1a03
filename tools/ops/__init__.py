"""Operations on real stacks: preview, up, destroy and migrate on Pulumi's Automation API, and their checks.

- operations: the workspace (preview, up, destroy, outputs, config); smoke: the web app's smoke checks; migrate:
  `migrate` of a stack;
- application_migrate, application_reach, application_data, dumpstream, application_smoke: `migrate` of a
  workload-file application with its databases' rows, and the smoke check its files imply;
- commands: preview, up, destroy and migrate on the command line.

Imports only the shared modules of tools/.
"""
