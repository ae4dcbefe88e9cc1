"""portax's built-in backends; each registers through the ``portax`` entry-point group like any plugin."""
