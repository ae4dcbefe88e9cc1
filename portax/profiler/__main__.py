"""``python -m portax.profiler LOG_DIR``: the latest trace's per-kernel table (``--svg OUT``: its timeline)."""
from portax.core.profiler import main

main()
