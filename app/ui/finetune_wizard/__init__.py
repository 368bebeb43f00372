"""The fine-tune wizard: pick your texts and a base model, train it on your machine, see that it
learned, and switch the editor to it.

Pages, one module each: texts (Texts) -> base (Base model) -> method (Method and settings) ->
training (Training) -> results (Results); wizard holds them. Training, the warm-up estimate, the
side-by-side comparison and the export run as child processes (children, app.ui.jobs.JsonProcess)
so this process never imports torch and stays responsive: no page ever waits for one, a stopped
child reports its end like any other. A run lives in runs_dir()/NAME: stopping, a crash or
closing the app keep its last checkpoint, and the Texts page offers to resume it (or to run it
again with the same texts and settings).
"""

from app.ui.finetune_wizard.entries import TextEntry, describe, read_entry
from app.ui.finetune_wizard.wizard import FinetuneWizard

__all__ = ["FinetuneWizard", "TextEntry", "describe", "read_entry"]
