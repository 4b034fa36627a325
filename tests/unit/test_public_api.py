"""The package's public names are exactly the curated ones, and each resolves."""

import ekstwin


def test_public_api_is_the_curated_list() -> None:
    assert sorted(ekstwin.__all__) == ["Catalog", "EkstwinError", "InvalidInput", "InvalidScenario", "RunResult",
                                       "Scenario", "Twin", "__version__", "load_catalog", "load_scenario",
                                       "run_scenario"]


def test_every_public_name_resolves() -> None:
    for name in ekstwin.__all__:
        assert getattr(ekstwin, name) is not None


def test_unknown_attributes_raise_attribute_error() -> None:
    try:
        ekstwin.nope  # type: ignore[attr-defined]  # noqa: B018
    except AttributeError as e:
        assert "nope" in str(e)
    else:
        raise AssertionError("expected AttributeError")
