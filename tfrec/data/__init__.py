"""Data: the contract and everything from raw files to tf.data batches.

`schema` (the contract), `readers` (one file into the contract's columns), `transactions` (a raw
transaction log into items and events), `validation` (the rules per table), `report` (violations
and what was dropped), `sources` (`load_shop` from the configured source), `synthetic` (the
generated shop), `catalog`, `splits` and `prepared` (vocabularies, leak-free splits and
examples), `ranking_examples`, and `datasets` (tf.data pipelines).
"""
