"""The pipeline: the only layer that knows both the domain and the adapters."""
