"""Data: the contract (schema), readers and validation, the synthetic shop, tf.data pipelines."""
