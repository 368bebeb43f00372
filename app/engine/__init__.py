"""Text generation without Qt: ONNX Runtime session, KV cache with prefix reuse, sampling,
alternatives, token healing, streaming and cancellation.

    engine = Engine.load(bundle_dir, provider="auto", threads=0)
    result = engine.generate(text_before_cursor, GenerationParams(), on_token=..., cancel=event)

Nothing here imports torch or Qt. ONNX Runtime loads with ``Engine`` only: the editor builds its
GenerationParams (and reads results) without waiting for it.
"""

from typing import TYPE_CHECKING, Any

from app.engine.params import GenerationParams
from app.engine.results import EngineStatus, GenerationResult, Suggestion
from core.errors import ModelError

if TYPE_CHECKING:
    from app.engine.engine import Engine

__all__ = ["Engine", "EngineStatus", "GenerationParams", "GenerationResult", "ModelError", "Suggestion"]


def __getattr__(name: str) -> Any:
    if name == "Engine":
        from app.engine.engine import Engine

        return Engine
    raise AttributeError(f"module 'app.engine' has no attribute {name!r}")
