"""The one error type for bad models and checkpoints.

Its message is shown to the user as it is, so it names the file and the problem; command-line
entry points print it and exit non-zero instead of showing a traceback.
"""


class ModelError(Exception):
    """A model, checkpoint or bundle is missing, malformed or unsupported."""
