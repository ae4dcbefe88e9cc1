"""``jax.profiler``: traces in Chrome trace-event JSON (open them in Perfetto), annotations and a per-kernel
table: ``python -m portax.profiler LOG_DIR`` (``--svg OUT.svg [--window NAME]``: a timeline picture)."""
from portax.core.profiler import (StepTraceAnnotation, TraceAnnotation, annotate_function, start_trace, stop_trace,
                                  trace)

__all__ = ["trace", "start_trace", "stop_trace", "TraceAnnotation", "StepTraceAnnotation", "annotate_function"]
