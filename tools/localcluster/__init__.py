"""The local clusters of the real runs: a real control plane built from Go modules, with kwok nodes or real nodes.

- catalog: which clusters exist and where their files are; pki, storage: their certificates and local volumes;
- controlplane: etcd, the API server, the controllers and the scheduler as ordered steps, each with its flags;
- nodekinds: the kwok node and the real node behind one interface; realnode: the node that runs containers
  (containerd, runc, the kubelet, kube-proxy, CoreDNS) in a network namespace of its own, its configuration
  rendered by nodeconfig; registry: the registry each real node pulls from; builder: BuildKit and the stand-in
  images (tools/standin/); kwok/: the stages that imitate what kwok nodes lack;
- clusters: the lifecycle (start, stop, up, down, status);
- localstack: `make up` (local-up, local-login, local-down); realrun: runs of the built Pulumi CLI against
  these clusters, shared by the live tests and the benchmarks.

Imports only the shared modules of tools/ (stack_files, toolchain, processes, private, passphrase, text).
"""
