"""The write-back view over the Faust table: reads see writes at once, the table sees each
touched profile once per flush, keyed by the account id's bytes."""

from models.profile import AccountProfile
from stream.profile_table import WriteBackProfiles


class CountingTable(dict):
    def __init__(self):
        super().__init__()
        self.writes = 0

    def __setitem__(self, key, value):
        self.writes += 1
        super().__setitem__(key, value)


def test_each_touched_profile_is_written_once_per_flush():
    table = CountingTable()
    view = WriteBackProfiles(table)
    for _ in range(50):
        for account in ("a", "b"):
            p = view.get(account) or AccountProfile(account)
            p.events += 1
            view[account] = p
    assert table.writes == 0 and view["a"].events == 50
    assert view.flush() == 2
    assert table.writes == 2 and table[b"a"].events == 50
    assert set(view) == {"a", "b"} and len(view) == 2 and "a" in view and "zz" not in view
    view.get("a").events += 1
    view["a"] = view["a"]
    view.flush()
    assert table.writes == 3 and table[b"a"].events == 51
