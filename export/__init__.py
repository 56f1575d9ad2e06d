"""Model export (installed as ``kerasvision.export``): one module per format.

The formats (TFLite, ONNX, SavedModel, TensorRT engine) arrive with the export
work; this package exists now so the install layout is final.
"""
