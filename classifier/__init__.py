"""The learned category classifier: which category (and so which department) a citizen's words
belong to, trained from labelled messages instead of guessed from keywords.

dataset  what it learns from (the bootstrap messages, the taxonomy, agents' corrections)
model    features and the two-level model (top level, then the leaf under it)
build    fingerprinted training: retrained only when its inputs change
evaluate held-out figures (`hotline classifier eval`, `make eval`)
"""
