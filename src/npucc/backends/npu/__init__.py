"""The NPU backend: partitioning into NPU and CPU partitions, and the deployable `.npub` blob."""
