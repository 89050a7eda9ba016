"""The online side of tfrec: TF Serving's REST and gRPC predict APIs on a run's exports, the
retrieve -> rank -> rules pipeline behind /search, /recommend and /similar, and version swaps."""
