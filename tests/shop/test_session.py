import numpy as np
import pytest

from tfrec.shop.session import session_history, session_query_embeddings


def test_session_items_become_the_most_recent_history():
    out = session_history(np.array([0, 5, 6, 7]), [6, 9, 9], 4)
    assert out.tolist() == [5, 7, 6, 9]
    assert session_history(np.array([0, 0]), [], 2).tolist() == [0, 0]


def test_weight_one_is_the_session_mean_and_zero_uses_the_history_input(ctx):
    e1 = session_query_embeddings(ctx, np.array([0]), [np.zeros(4, int)], [[4]], weight=1.0)
    np.testing.assert_allclose(e1[0], ctx.item_embeddings[4], atol=1e-6)
    without = session_query_embeddings(ctx, np.array([0]), [np.zeros(4, int)], [[]], weight=0.0)
    with_session = session_query_embeddings(
        ctx, np.array([0]), [np.zeros(4, int)], [[4]], weight=0.0
    )
    # the encoder reads the session through its history input
    assert np.argmax(with_session[0] @ ctx.item_embeddings.T) in (4, 5)
    assert np.argmax(without[0] @ ctx.item_embeddings.T) == 7


def test_bad_weight(ctx):
    with pytest.raises(ValueError, match="weight"):
        session_query_embeddings(ctx, np.array([0]), [np.zeros(4, int)], [[1]], weight=2.0)
