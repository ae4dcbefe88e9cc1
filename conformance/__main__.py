"""``python -m portax.conformance``: see ``portax.conformance.cli``."""
import sys

from .cli import main

sys.exit(main())
