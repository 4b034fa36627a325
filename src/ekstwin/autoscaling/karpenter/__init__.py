"""Karpenter's decisions: the provisioning scheduling simulation (``scheduler.solve``), instance-type
filtering and price ordering (``instancetypes``), topology tracking (``topology``), preference relaxation
(``preferences``) and NodeClaim templates from NodePools (``templates``)."""
