"""Identity memoisation."""

from ekstwin.memo import IdentityMemo


def test_a_value_is_computed_once_per_object_and_again_for_an_equal_but_distinct_object() -> None:
    calls: list[object] = []
    memo: IdentityMemo[list[int], int] = IdentityMemo()

    def compute(x: list[int]) -> int:
        calls.append(x)
        return sum(x)

    a, b = [1, 2], [1, 2]
    assert memo(a, compute) == 3 and memo(a, compute) == 3
    assert memo(b, compute) == 3
    assert len(calls) == 2


def test_the_memo_empties_itself_past_its_limit() -> None:
    memo: IdentityMemo[tuple[int], int] = IdentityMemo(limit=2)
    keep = [(i,) for i in range(3)]
    for k in keep:
        memo(k, lambda t: t[0])
    calls: list[int] = []
    memo(keep[0], lambda t: calls.append(t[0]) or t[0])
    assert calls == [0]  # forgotten when the third entry arrived
