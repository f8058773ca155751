"""The engine-facing view of the Faust table: str account ids in, bytes keys in the table,
every write goes through (Faust needs the reassignment to publish the changelog record)."""

from distillguard.models.profile import AccountProfile
from distillguard.stream.profile_table import ProfileTable


class CountingTable(dict):
    def __init__(self):
        super().__init__()
        self.writes = 0

    def __setitem__(self, key, value):
        self.writes += 1
        super().__setitem__(key, value)


def test_str_ids_map_to_bytes_keys_and_every_write_goes_through():
    table = CountingTable()
    view = ProfileTable(table)
    for _ in range(3):
        p = view.get("a") or AccountProfile("a")
        p.events += 1
        view["a"] = p
    assert table.writes == 3 and table[b"a"].events == 3
    assert "a" in view and "b" not in view and list(view) == ["a"] and len(view) == 1
    assert view.get("b") is None
