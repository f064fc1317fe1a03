"""Real runs: the Pulumi CLI and Kubernetes provider built from Go modules, against local control planes."""
