"""The data valve's data plane (issue 14, docs/adr/0018-data-valve.md).

``chunks`` is pure (the chunk tree over a dataset); ``store`` keeps a node's encrypted content.
"""
