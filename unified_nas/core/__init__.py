"""Stage 1, core: what every stage shares and nothing else defines.

Errors, limits on untrusted input, strict JSON, how untrusted values appear in
messages, the unified strategy and pruner names, the environment a run records,
and the metric registry (data only: computing a metric is the evaluation stage's).
Core imports no other stage.
"""
