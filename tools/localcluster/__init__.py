"""The local clusters of the real runs: a real control plane built from Go modules, with kwok nodes or real nodes.

- clusters: the catalog, the certificates, the kubeconfigs and the control plane; start, stop, status;
- realnode: a node that runs containers (containerd, runc, the kubelet, kube-proxy, CoreDNS) in a network
  namespace of its own; registry: the in-cluster registry each real node pulls from; builder: BuildKit and the
  stand-in images (tools/standin/); kwok/: the stages that imitate what kwok nodes lack;
- localstack: `make up` (local-up, local-login, local-down); realrun: runs of the built Pulumi CLI against
  these clusters, shared by the live tests and the benchmarks.

Imports only the shared modules of tools/ (stack_files, toolchain, processes, private, passphrase, text).
"""
