"""The standalone build's entry point: the same ``inkwell`` command as the pip install's."""

import sys

from app.cli import main

if __name__ == "__main__":
    sys.exit(main())
