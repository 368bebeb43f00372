"""Screenshots of each page of the fine-tune wizard, driving a real (short) fine-tune:

    xvfb-run -a -s "-screen 0 1280x800x24" python docs/wizard_screenshots.py OUT_DIR TEXT_FILE_OR_FOLDER... [--steps N]

Uses the active model as the base (the bundled one unless INKWELL_HOME's settings say otherwise);
point INKWELL_HOME at a scratch folder so the new model does not land among your own.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # this checkout's app/, not another

from PySide6.QtCore import QEventLoop, QTimer
from PySide6.QtWidgets import QApplication


def spin(ms: int) -> None:
    loop = QEventLoop()
    QTimer.singleShot(ms, loop.quit)
    loop.exec()


def wait(condition, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("the wizard did not get there in time")
        spin(50)


def main() -> int:
    p = argparse.ArgumentParser(allow_abbrev=False)
    p.add_argument("out")
    p.add_argument("texts", nargs="+")
    p.add_argument("--steps", type=int, help="train for this many steps (default: the wizard's epochs)")
    p.add_argument("--name", default="my-voice")
    args = p.parse_args()
    app = QApplication([sys.argv[0]])
    app.setApplicationName("Inkwell")
    from app.settings import Settings
    from app.ui.finetune_wizard import FinetuneWizard

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    wizard = FinetuneWizard(Settings.load())
    wizard.resize(900, 680)
    wizard.show()
    spin(300)

    def shot(name: str) -> None:
        spin(200)
        wizard.grab().save(str(out / f"finetune-{name}.png"))
        print(f"saved {out / f'finetune-{name}.png'}")

    wizard.texts_page.add_paths([Path(t) for t in args.texts])
    shot("1-texts")
    wizard.next()
    shot("2-base")
    wizard.next()
    method = wizard.method_page
    if args.steps:
        method.by_steps.setChecked(True)
        method.steps.setValue(args.steps)
    method.name.setText(args.name)
    wait(lambda: method.estimate is not None, 600)
    shot("3-settings")
    wizard.next()
    page = wizard.training_page
    wait(lambda: page.bar.maximum() > 0 and page.bar.value() >= page.bar.maximum() * 0.6 or page.state != "running", 3600)
    shot("4-training")
    wait(lambda: page.state != "running", 3600)
    if page.state != "done":
        print(page.message.text())
        return 1
    wizard.next()
    results = wizard.results_page
    wait(lambda: results.compare_button.isEnabled(), 600)
    shot("5-results")
    results.use_button.click()
    wait(lambda: not results.export_process.running, 600)
    shot("6-installed")
    wizard.shut_down()
    wait(lambda: not wizard.stopping, 600)  # (stopping never blocks: the children end on their own)
    return 0


if __name__ == "__main__":
    sys.exit(main())
