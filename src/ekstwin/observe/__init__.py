"""Layer 5: recording what happened — Kubernetes Events, Karpenter-style log lines, decisions, metrics."""
