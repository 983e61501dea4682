"""catdog_utils: the small helper library behind the catdog course notebooks.

One module per concern, imported explicitly (``from catdog_utils import data``):

- ``config``: paths, defaults and the quick / class / full run profiles
- ``errors``: the :class:`~catdog_utils.errors.CatdogError` family
- ``atomic``: every write of a file or folder (temporary path, fsync, rename into place)
- ``images``: the one door through which any image file enters (decode, EXIF, RGB)
- ``data``: acquire the course data set from a URL, zip or folder
- ``explore``: the data and the model before training (photo sizes, layer costs, summary)
- ``pipeline``: ``tf.data`` train / validation / test sets
- ``models``: the original CNN, the improved CNN and their augmentation
- ``augmentation``: ``ShearZoomFlip``, the original augmentation as one Keras layer
- ``names``: small helpers on file names (``natural_key``)
- ``runs``: what every training path shares: result, callbacks, run folder, atomic ending
- ``multiworker``: the distributed training loop for ``TF_CONFIG`` runs
- ``training``: fit under distribution strategies, time budgets, progressive resizing
- ``evaluation``: metrics, confusion matrix, ROC, mistakes, Grad-CAM
- ``plots``: every figure a notebook shows
- ``predict``: safe model loading and predictions on new photos
- ``export``: SavedModel and TensorFlow Lite exports, checked against Keras
- ``exercises``: the notebooks' exercise checks and hints
- ``bench``: input-pipeline and compute benchmarks
- ``quiet``: import TensorFlow without its start-up chatter; silence C++ notices
- ``text``: what notebooks print: counts with their noun, file sizes
- ``cli``: the ``catdog`` command

Importing the package does no TensorFlow work: modules import TensorFlow only when a
function that needs it runs (``augmentation``, whose layer subclasses a Keras class, is
imported only by those functions).
"""

__version__ = "0.1.0"
