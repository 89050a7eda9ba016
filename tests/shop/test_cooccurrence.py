import numpy as np

from tfrec.shop.cooccurrence import CoCounts


def test_counts_are_symmetric_and_count_a_session_once():
    sessions = np.array(["s1", "s1", "s1", "s2", "s2", "s3"])
    items = np.array([1, 2, 2, 1, 2, 3])
    c = CoCounts.from_sessions(sessions, items, 4)
    assert c.count(1, 2) == 2 and c.count(2, 1) == 2
    assert c.count(1, 3) == 0 and c.count(2, 2) == 0
    assert c.item_sessions.tolist() == [0, 2, 2, 1]
    assert c.num_sessions == 3
    np.testing.assert_allclose(c.dense_row(1, normalise=True), [0, 0, 1.0, 0])


def test_empty_and_padding_only():
    c = CoCounts.from_sessions(np.array(["s"]), np.array([0]), 3)
    assert c.num_sessions == 0 and len(c.indices) == 0
    assert c.dense_row(2).sum() == 0
