"""Stage 8, evaluation: how a sample becomes metrics.

Evaluators (train it, look it up in a table, score a proxy; constraints
first), the torch trainer and the Keras form of the protocol (``train``),
zero-cost proxies, measured and predicted latency, and the metrics known
before training (``measures``).
"""
