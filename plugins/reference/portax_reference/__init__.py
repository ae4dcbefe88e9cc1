"""portax-reference: a numpy backend that interprets the IR; the conformance suite's oracle."""
