"""Effective pod requests (KEP-753) and scoring's non-zero requests."""

from ekstwin.model.pod import PodInfo, effective_requests, nonzero_requests
from ekstwin.units.resources import Resources


def c(cpu: str | None = None, memory: str | None = None, **extra: object) -> dict[str, object]:
    req = {k: v for k, v in (("cpu", cpu), ("memory", memory)) if v is not None}
    return {"name": "x", "resources": {"requests": req}, **extra}


def test_sidecar_and_init_peak_follow_the_kep_753_worked_example() -> None:
    spec = {"containers": [c("200m"), c("300m")],
            "initContainers": [c("1000m"), c("100m", restartPolicy="Always")]}
    assert effective_requests(spec)["cpu"] == 1000


def test_sidecars_add_to_the_steady_state_sum() -> None:
    spec = {"containers": [c("500m")], "initContainers": [c("100m", restartPolicy="Always"), c("200m")]}
    assert effective_requests(spec)["cpu"] == 600  # apps 500 + sidecar 100; init peak 200 + 100


def test_pod_overhead_is_added_and_every_pod_takes_one_pod_slot() -> None:
    spec = {"containers": [c("1", "1Gi")], "overhead": {"cpu": "250m", "memory": "120Mi"}}
    assert effective_requests(spec) == Resources.parse({"cpu": "1250m", "memory": "1144Mi", "pods": 1})


def test_a_limit_stands_in_for_a_missing_request() -> None:
    spec = {"containers": [{"name": "x", "resources": {"limits": {"cpu": "2"}}}]}
    assert effective_requests(spec)["cpu"] == 2000


def test_scoring_counts_100m_and_200mi_for_containers_without_requests() -> None:
    spec = {"containers": [{"name": "a"}, c("300m", "1Gi")]}
    assert nonzero_requests(spec) == (400, 200 * 2**20 + 2**30)


def test_do_not_disrupt_annotation_is_read() -> None:
    pod = PodInfo.parse({"metadata": {"name": "p", "annotations": {"karpenter.sh/do-not-disrupt": "true"}},
                         "spec": {"containers": [c("1")]}})
    assert pod.do_not_disrupt and pod.requests["pods"] == 1
