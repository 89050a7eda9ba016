"""Index parameters follow the catalog size."""

import pytest

from tfrec.config import IndexConfig
from tfrec.index.params import choose_params


def test_params_follow_catalog_size():
    cfg = IndexConfig(brute_force_below=1000)
    assert choose_params(999, cfg).mode == "brute_force"
    p = choose_params(1_000_000, cfg)
    assert p.mode == "scann" and p.num_leaves == 1000 and p.reorder >= cfg.num_neighbors
    with pytest.raises(ValueError, match="num_items"):
        choose_params(0, cfg)
