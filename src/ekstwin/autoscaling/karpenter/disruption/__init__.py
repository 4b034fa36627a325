"""Karpenter's voluntary disruption decisions (pure): candidates in, one command out.

``types`` holds the values (Candidate, Command, Blocked); ``simulate`` re-runs the provisioning simulation
without some nodes; ``consolidation`` implements the consolidation core with Spot-to-Spot, multi-node
(binary search) and single-node; ``emptiness`` and ``drift`` the other methods; ``logfmt`` Karpenter's
decision log line for each version. The disruption controller gathers candidates from the store, calls
these, validates after 15 s and executes through the orchestration queue.
"""
