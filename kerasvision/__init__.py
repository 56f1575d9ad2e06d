"""kerasvision: train, distill, compress and export Keras image classifiers.

Importing the package is cheap: TensorFlow loads only when a submodule that
needs it (``kerasvision.backend``, ``kerasvision.models``, ...) is imported.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
