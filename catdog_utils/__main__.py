"""``python -m catdog_utils ...``: the ``catdog`` command without its launcher script.

Useful where the ``catdog`` script is not on ``PATH`` (Windows without ``make``, a
conda environment, a notebook's ``!`` shell).
"""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
