"""Layer 4: autoscaler decisions (Karpenter; later the Cluster Autoscaler). Values in, decisions out.

Nothing here touches the store or the clock: callers pass ``now`` and objects, and write the results back.
"""
