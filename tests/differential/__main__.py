"""``python -m tests.differential``: see fuzz.py."""
import sys

from .fuzz import main

sys.exit(main())
