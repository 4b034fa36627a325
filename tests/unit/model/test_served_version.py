"""Reading stored v1 Karpenter objects back through their v1beta1 URLs (the API's legacy versions)."""

from pathlib import Path

from ekstwin.model import manifests

SEED = Path(__file__).parent / "fixtures" / "seed-nodepool.yaml"


def _stored() -> list[dict[str, object]]:
    objects, _ = manifests.load_manifests([SEED])
    return objects


def test_a_converted_v1beta1_nodepool_reads_back_as_its_v1beta1_shape() -> None:
    pool = next(o for o in _stored() if o["kind"] == "NodePool")
    served = manifests.to_served_version(pool, "karpenter.sh/v1beta1")
    assert served["apiVersion"] == "karpenter.sh/v1beta1"
    assert served["spec"]["disruption"]["consolidationPolicy"] == "WhenUnderutilized"
    assert "consolidateAfter" not in served["spec"]["disruption"]
    assert served["spec"]["template"]["spec"]["nodeClassRef"]["name"] == "default"
    assert not manifests.validate(manifests.Document(served, "<served>", 0)).errors


def test_served_then_stored_again_is_the_same_object() -> None:
    for obj in _stored():
        version = "karpenter.sh/v1beta1" if obj["kind"] == "NodePool" else "karpenter.k8s.aws/v1beta1"
        again = manifests.to_storage_version(manifests.to_served_version(obj, version))
        assert again["spec"] == obj["spec"], obj["kind"]


def test_other_versions_only_change_the_label() -> None:
    pool = next(o for o in _stored() if o["kind"] == "NodePool")
    assert manifests.to_served_version(pool, "karpenter.sh/v1") == pool
