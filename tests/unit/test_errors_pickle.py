"""Errors cross process boundaries (parallel what-if runs) with their type and location intact."""

from __future__ import annotations

import pickle

from ekstwin.errors import CloudError, InvalidInput, InvalidScenario


def test_invalid_input_keeps_its_type_and_location_through_pickle() -> None:
    err = InvalidScenario("expected a list", file="s.yaml", obj="NodePool default", field="spec.limits")
    back = pickle.loads(pickle.dumps(err))
    assert type(back) is InvalidScenario and str(back) == str(err)
    assert (back.file, back.obj, back.field, back.reason) == ("s.yaml", "NodePool default", "spec.limits",
                                                              "expected a list")
    plain = pickle.loads(pickle.dumps(InvalidInput("must be >= 0", field="seconds")))
    assert type(plain) is InvalidInput and plain.field == "seconds"


def test_cloud_errors_keep_their_code_through_pickle() -> None:
    back = pickle.loads(pickle.dumps(CloudError("InsufficientInstanceCapacity", "no m5.large in us-east-1a")))
    assert back.code == "InsufficientInstanceCapacity" and str(back).endswith("no m5.large in us-east-1a")
