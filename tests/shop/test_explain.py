from tfrec.shop.explain import explain_item


def test_explanation_names_the_closest_history_item_and_copurchases(ctx):
    e = explain_item(ctx, 2, history=[4, 1], query="blue mugs and cups")
    assert e["closest_history_item"]["item_id"] == "i1"
    assert set(e["closest_history_item"]["shared_attributes"]) == {
        "category",
        "brand",
        "price_band",
    }
    assert e["copurchase"] == {"item_id": "i1", "count": 5}
    assert e["query_terms"] == ["blue"]
    assert e["reasons"] and all(isinstance(r, str) for r in e["reasons"])


def test_no_context_explains_by_popularity(ctx):
    e = explain_item(ctx, 7)
    assert e["popularity"] == {"rank": 2, "interactions": 7}
    assert e["reasons"] == ["popular: #2 by interactions"]
