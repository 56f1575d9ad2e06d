"""Counting a model's FLOPs with TensorFlow's profiler (``tf.compat.v1.profiler``)."""

from __future__ import annotations

from kerasvision.backend import tf


def count_flops(model) -> int:
    """Float operations of one image through ``model`` (a multiply-add counts 2).

    The model is traced once at batch 1 and the graph's ops are summed by the
    profiler's ``float_operation`` view; nothing runs.

    Args:
        model: A Keras model with a fully defined input shape.

    Returns:
        The FLOP count.
    """
    spec = tf.TensorSpec((1, *model.input_shape[1:]), tf.float32)
    graph = tf.function(lambda x: model(x, training=False)).get_concrete_function(spec).graph
    options = (
        tf.compat.v1.profiler.ProfileOptionBuilder(
            tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
        )
        .with_empty_output()
        .build()
    )
    info = tf.compat.v1.profiler.profile(graph=graph, cmd="op", options=options)
    return int(info.total_float_ops)


def backbone_stats(model) -> tuple[int, int, int]:
    """``(params, features, flops)`` of ``model`` without its ``logits`` classifier."""
    logits = model.get_layer("logits")
    features = int(logits.input_shape[-1])
    params = int(model.count_params()) - int(logits.count_params())
    flops = count_flops(model) - 2 * features * int(logits.units)
    return params, features, flops
