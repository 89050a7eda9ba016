"""SavedModel export in TF Serving layout (`tfrec export CONFIG` and the `export` stage,
`tfrec.stages.export`).

    runs/<name>/export/models.config                 TF Serving model config (every model)
                export/tfrec/<version>/              ops stock TF Serving links: core TF and
                                                     TF Text's BertTokenizer (no FastBert ops)
                export/tfrec_scann/<version>/        `retrieval` runs the ScaNN index in the graph
                export/tfrec_ranker/<version>/       `ranker` (stock ops; only when the run has a
                                                     trained ranker)

- `serving_module`: `RetrievalServingModule`, the retrieval graph and its signatures;
- `retrieval`: `export_model`, both retrieval models of a trained model and an index;
- `ranker`: `RankerServingModule` and `export_ranker`;
- `versions`: writing, checking and pruning versions, warmup requests, `models.config`.
"""
