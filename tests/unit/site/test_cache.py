"""Bounded: a dict with a limit on entries and on the bytes its values hold."""

from __future__ import annotations

from staticsrv.site.cache import Bounded


def sized(maxsize: int, budget: int) -> Bounded[str, bytes]:
    return Bounded(maxsize, budget=budget, weigh=len)


def test_get_set_contains_len_and_pop() -> None:
    m: Bounded[str, int] = Bounded(4)
    assert m.get("a") is None
    m["a"] = 1
    assert m.get("a") == 1
    assert "a" in m and "b" not in m
    assert len(m) == 1
    assert m.pop("a") == 1
    assert m.pop("a") is None
    assert len(m) == 0


def test_the_oldest_entry_goes_first_when_full() -> None:
    m: Bounded[int, int] = Bounded(3)
    for i in range(5):
        m[i] = i
    assert len(m) == 3
    assert [k for k in range(5) if k in m] == [2, 3, 4]


def test_a_hit_does_not_reorder() -> None:
    """Insertion order, not recency: a lookup costs one dict access."""
    m: Bounded[int, int] = Bounded(2)
    m[1] = 1
    m[2] = 2
    assert m.get(1) == 1
    m[3] = 3
    assert 1 not in m and 2 in m and 3 in m


def test_replacing_a_key_does_not_grow_the_map() -> None:
    m: Bounded[str, int] = Bounded(2)
    m["a"] = 1
    m["b"] = 2
    m["a"] = 3
    assert len(m) == 2
    assert (m.get("a"), m.get("b")) == (3, 2)


def test_a_scan_of_many_keys_never_passes_the_limit() -> None:
    m: Bounded[int, int] = Bounded(100)
    for i in range(10_000):
        m[i] = i
        assert len(m) <= 100


def test_held_bytes_follow_sets_replacements_pops_and_clear() -> None:
    m = sized(10, 0)
    m["a"] = b"x" * 10
    m["b"] = b"y" * 5
    assert m.held == 15
    m["a"] = b"z" * 3
    assert m.held == 8
    m.pop("b")
    assert m.held == 3
    m.clear()
    assert (m.held, len(m)) == (0, 0)


def test_the_byte_budget_pushes_out_the_oldest_entries() -> None:
    m = sized(100, 100)
    for i in range(10):
        m[str(i)] = bytes(30)
        assert m.held <= 100
    assert m.held == 90
    assert [str(i) in m for i in range(10)] == [False] * 7 + [True] * 3


def test_a_value_larger_than_the_budget_is_not_kept_and_evicts_nothing() -> None:
    m = sized(100, 100)
    m["small"] = bytes(10)
    m["huge"] = bytes(101)
    assert "huge" not in m
    assert "small" in m
    assert m.held == 10


def test_a_value_the_size_of_the_budget_fits_alone() -> None:
    m = sized(100, 100)
    m["a"] = bytes(60)
    m["b"] = bytes(100)
    assert "a" not in m and "b" in m
    assert m.held == 100


def test_without_weigh_only_the_entry_limit_applies() -> None:
    m: Bounded[str, bytes] = Bounded(2, budget=1)
    m["a"] = bytes(1000)
    m["b"] = bytes(1000)
    assert len(m) == 2
    assert m.held == 0
