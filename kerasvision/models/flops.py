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


def backbone_params(model) -> tuple[int, int]:
    """``(params, features)`` of ``model`` without its ``logits`` classifier (any input size)."""
    logits = model.get_layer("logits")
    return int(model.count_params()) - int(logits.count_params()), int(logits.input_shape[-1])


def backbone_stats(model) -> tuple[int, int, int]:
    """``(params, features, flops)`` of ``model`` without its ``logits`` classifier."""
    params, features = backbone_params(model)
    flops = count_flops(model) - 2 * features * int(model.get_layer("logits").units)
    return params, features, flops


def main() -> None:
    """Prints the ``cached_stats.STATS`` table: ``python -m kerasvision.models.flops``.

    Builds every model that has an int8 family at its default size (minutes).
    """
    from kerasvision.models.catalog import create_model, get_model_spec, list_models

    print("STATS = {")
    for name in list_models():
        spec = get_model_spec(name)
        if spec.family is None:
            continue
        size = spec.default_size
        model = create_model(name, num_classes=10, input_shape=(size, size, 3))
        print(f'    "{name}": {backbone_stats(model)},', flush=True)
    print("}")


if __name__ == "__main__":
    main()
