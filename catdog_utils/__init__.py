"""catdog_utils: the small helper library behind the catdog course notebooks.

One module per concern, imported explicitly (``from catdog_utils import data``):

- ``config``: paths, defaults and the quick / class / full run profiles
- ``errors``: the :class:`~catdog_utils.errors.CatdogError` family
- ``images``: the one door through which any image file enters (decode, EXIF, RGB)
- ``data``: acquire the course data set from a URL, zip or folder
- ``pipeline``: ``tf.data`` train / validation / test sets
- ``models``: the original CNN, the improved CNN and their augmentation
- ``training``: fit with callbacks, resume, atomic saves, distribution strategies
- ``evaluation``: metrics, confusion matrix, ROC, mistakes, Grad-CAM
- ``plots``: every figure a notebook shows
- ``predict``: safe model loading and predictions on new photos
- ``bench``: input-pipeline and compute benchmarks
- ``quiet``: import TensorFlow without its start-up chatter
- ``cli``: the ``catdog`` command

Importing the package does no TensorFlow work: modules import TensorFlow only when a
function that needs it runs.
"""

__version__ = "0.1.0"
