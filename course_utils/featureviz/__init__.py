"""Feature visualization by optimization: find an input that a unit, a channel, a layer or a class responds to.

Three small pieces and one loop (the design of Lucid/Lucent), one module each:

* ``param`` – image parameterizations ``PixelImage`` and ``FourierImage`` (1/f-scaled spectrum, colour
  decorrelation): ``nn.Module``\\ s whose ``forward()`` returns a batch N×C×H×W in [0, 1];
  ``fourier`` holds their frequency domain and ``high_frequency_energy(images)``;
* ``transforms`` – ``jitter``, ``random_scale``, ``random_rotate``, ``pad``, ``blur``: random changes applied
  to the image before each forward pass, so the optimum must survive them;
* ``objectives`` – ``neuron``, ``channel``, ``deepdream``, ``class_logit``, ``class_probability``,
  ``diversity`` and the penalties ``l2``, ``total_variation``, ``blur_penalty``. An objective maps the
  activations of one forward pass to one value per image (shape N) and composes with ``+``, ``-`` and ``*``::

      obj = channel("relu4", 7) - 0.05 * total_variation() + 0.5 * diversity("relu4")

* ``render`` – ``render(model, objective, image, ...)`` runs gradient ascent on the image's parameters;
  ``evaluate(model, objective, images)`` scores given images by the same objective; ``Adam`` is its
  optimizer (torch.optim.Adam's update, written out), passed back in to continue a render.

A layer is given by its name (``"relu4"``, ``"_blocks.5"``) or as the module (``model.relu4``).
"""
from .fourier import fourier_to_pixels, frequency_grid, high_frequency_energy, pixels_to_fourier, spectrum_scale
from .objectives import (INPUT, LOGITS, Objective, blur_penalty, channel, class_logit, class_probability, deepdream,
                         diversity, gram_matrices, l2, neuron, total_variation)
from .param import IMAGENET_COLOR_SQRT, FourierImage, ImageParam, PixelImage, color_correlation_sqrt
from .render import Adam, evaluate, input_normalizer, render
from .transforms import (Transform, blur, compose, gaussian_kernel, jitter, pad, random_rotate, random_scale,
                         standard_transforms)

__all__ = ["INPUT", "LOGITS", "Objective", "neuron", "channel", "deepdream", "class_logit", "class_probability",
           "l2", "total_variation", "blur_penalty", "gram_matrices", "diversity",
           "Transform", "jitter", "random_scale", "random_rotate", "pad", "gaussian_kernel", "blur", "compose",
           "standard_transforms",
           "frequency_grid", "spectrum_scale", "fourier_to_pixels", "pixels_to_fourier", "high_frequency_energy",
           "IMAGENET_COLOR_SQRT", "color_correlation_sqrt", "ImageParam", "PixelImage", "FourierImage",
           "input_normalizer", "render", "evaluate", "Adam"]
