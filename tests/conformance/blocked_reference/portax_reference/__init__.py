"""Put first on PYTHONPATH, this stands in for an uninstalled portax-reference: importing it fails as a
missing distribution would (tests/conformance/test_conformance_cli.py)."""
raise ImportError("portax-reference is not installed (a test blocks it)")
