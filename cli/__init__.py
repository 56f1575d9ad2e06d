"""The ``kv`` command line (installed as ``kerasvision.cli``)."""
