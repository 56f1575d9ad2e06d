"""Training recipes shipped with kerasvision (``kv train --config NAME``)."""
