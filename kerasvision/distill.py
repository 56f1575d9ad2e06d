"""Knowledge distillation: a ``Distiller`` that trains a student on a frozen teacher.

Loss (Hinton et al. 2015)::

    alpha * CE(y, student) + (1 - alpha) * T^2 * KL(softmax(teacher / T) || softmax(student / T))

The T^2 factor keeps the soft-target gradients on the same scale as the hard
ones when the temperature changes.
"""

from __future__ import annotations

from kerasvision import _compat
from kerasvision.backend import keras, tf
from kerasvision.tta import check_tta, tta_views


def logits_model(model):
    """A model with ``model``'s input that returns its logits.

    kerasvision models name their pre-softmax layer ``logits`` (``quant_logits``
    or ``prune_low_magnitude_logits`` once wrapped for QAT or pruning); for any
    other model the log of its probabilities serves (the same up to a constant,
    which softmax ignores).
    """
    names = {layer.name for layer in model.layers}
    for name in ("logits", "quant_logits", "prune_low_magnitude_logits"):
        if name in names:
            logits = _compat.output_in(model, model.get_layer(name))
            return keras.Model(model.inputs, logits, name=f"{model.name}_logits")
    probs = model.outputs[0]
    logits = keras.layers.Lambda(lambda p: tf.math.log(tf.clip_by_value(p, 1e-7, 1.0)))(probs)
    return keras.Model(model.inputs, logits, name=f"{model.name}_logits")


class Distiller(keras.Model):
    """Trains ``student`` to match a frozen ``teacher`` and the labels.

    The teacher runs in inference mode and never changes; when its input size
    differs from the student's, images are resized for it inside the step.
    Metrics are the student's. ``save`` writes the student alone, as an
    ordinary Keras model.

    Args:
        teacher: A trained model returning class probabilities.
        student: The model to train, same classes as the teacher.
        alpha: Weight of the hard-label cross-entropy; 1 - alpha goes to the
            distillation term. Defaults to 0.1.
        temperature: Softmax temperature of the soft targets. Defaults to 4.0.
        label_smoothing: Label smoothing of the hard-label term. Defaults to 0.0.
        teacher_tta: The teacher's soft targets averaged over views
            (``kerasvision.tta``): ``none``, ``flip`` or ``flip_translate``.
            Defaults to ``none``.
    """

    def __init__(
        self,
        *,
        teacher,
        student,
        alpha: float = 0.1,
        temperature: float = 4.0,
        label_smoothing: float = 0.0,
        teacher_tta: str = "none",
        **kwargs,
    ):
        super().__init__(**kwargs)
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"alpha must be in [0, 1], got {alpha}")
        if temperature <= 0:
            raise ValueError(f"temperature must be positive, got {temperature}")
        if teacher.output_shape[-1] != student.output_shape[-1]:
            raise ValueError(
                f"teacher has {teacher.output_shape[-1]} classes, student "
                f"{student.output_shape[-1]}"
            )
        self.teacher = teacher
        self.student = student
        self.alpha = float(alpha)
        self.temperature = float(temperature)
        self.label_smoothing = float(label_smoothing)
        self.teacher_tta = check_tta(teacher_tta)
        teacher.trainable = False
        self._teacher_logits = logits_model(teacher)
        self._student_logits = logits_model(student)
        self._teacher_size = tuple(teacher.input_shape[1:3])
        self._teacher_channels = teacher.input_shape[-1]
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.hard_tracker = keras.metrics.Mean(name="student_loss")
        self.soft_tracker = keras.metrics.Mean(name="distillation_loss")

    @property
    def metrics(self):
        compiled = self.compiled_metrics.metrics if self.compiled_metrics is not None else []
        return [self.loss_tracker, self.hard_tracker, self.soft_tracker, *compiled]

    def call(self, inputs, training=None):
        return self.student(inputs, training=training)

    def teacher_inputs(self, images):
        """Images as the teacher wants them: resized and with its channel count."""
        if self._teacher_size != tuple(images.shape[1:3]):
            images = tf.image.resize(images, self._teacher_size)
        if self._teacher_channels == 3 and images.shape[-1] == 1:
            images = tf.image.grayscale_to_rgb(images)
        elif self._teacher_channels == 1 and images.shape[-1] == 3:
            images = tf.image.rgb_to_grayscale(images)
        return images

    def hard_loss(self, labels, student_logits):
        return keras.losses.categorical_crossentropy(
            labels, student_logits, from_logits=True, label_smoothing=self.label_smoothing
        )

    def soft_loss(self, teacher_logits, student_logits):
        """``T^2 * KL(softmax(teacher / T) || softmax(student / T))`` per example."""
        t = self.temperature
        teacher_probs = tf.nn.softmax(tf.cast(teacher_logits, tf.float32) / t)
        student_probs = tf.nn.softmax(tf.cast(student_logits, tf.float32) / t)
        return keras.losses.kl_divergence(teacher_probs, student_probs) * t * t

    def distillation_loss(self, labels, teacher_logits, student_logits):
        """The combined per-example loss and its two parts."""
        hard = self.hard_loss(labels, tf.cast(student_logits, tf.float32))
        soft = self.soft_loss(teacher_logits, student_logits)
        return self.alpha * hard + (1.0 - self.alpha) * soft, hard, soft

    def teacher_targets(self, images):
        """The teacher's logits of a batch, averaged over its TTA views."""
        views = tta_views(self.teacher_inputs(images), self.teacher_tta)
        logits = [self._teacher_logits(view, training=False) for view in views]
        return logits[0] if len(logits) == 1 else tf.add_n(logits) / len(logits)

    def train_step(self, data):
        images, labels = data[0], data[1]
        teacher_logits = self.teacher_targets(images)
        with tf.GradientTape() as tape:
            student_logits = self._student_logits(images, training=True)
            loss, hard, soft = self.distillation_loss(labels, teacher_logits, student_logits)
            total = tf.reduce_mean(loss) + tf.add_n(self.student.losses or [0.0])
            scaled = (
                self.optimizer.get_scaled_loss(total)
                if hasattr(self.optimizer, "get_scaled_loss")
                else total
            )
        grads = tape.gradient(scaled, self.student.trainable_variables)
        if hasattr(self.optimizer, "get_unscaled_gradients"):
            grads = self.optimizer.get_unscaled_gradients(grads)
        self.optimizer.apply_gradients(zip(grads, self.student.trainable_variables, strict=True))
        return self._update_metrics(labels, student_logits, total, hard, soft)

    def test_step(self, data):
        images, labels = data[0], data[1]
        student_logits = self._student_logits(images, training=False)
        hard = self.hard_loss(labels, tf.cast(student_logits, tf.float32))
        logs = self._update_metrics(labels, student_logits, tf.reduce_mean(hard), hard, None)
        # Validation has no teacher pass: report the student's loss and metrics only.
        return {k: v for k, v in logs.items() if k not in ("student_loss", "distillation_loss")}

    def _update_metrics(self, labels, student_logits, total, hard, soft):
        self.loss_tracker.update_state(total)
        self.hard_tracker.update_state(hard)
        if soft is not None:
            self.soft_tracker.update_state(soft)
        self.compiled_metrics.update_state(
            labels, tf.nn.softmax(tf.cast(student_logits, tf.float32))
        )
        return {m.name: m.result() for m in self.metrics}

    def get_config(self) -> dict:
        return {
            "alpha": self.alpha,
            "temperature": self.temperature,
            "label_smoothing": self.label_smoothing,
            "teacher_tta": self.teacher_tta,
            "teacher": keras.saving.serialize_keras_object(self.teacher),
            "student": keras.saving.serialize_keras_object(self.student),
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for key in ("teacher", "student"):
            config[key] = keras.saving.deserialize_keras_object(config[key])
        return cls(**config)

    def save(self, filepath, *args, **kwargs):
        """Saves the student alone: an ordinary Keras model, loadable without kerasvision."""
        from kerasvision.models.saving import save_model

        return save_model(self.student, filepath)
