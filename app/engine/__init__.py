"""Text generation without Qt: ONNX Runtime session, KV cache with prefix reuse, sampling,
alternatives, token healing, streaming and cancellation.

    engine = Engine.load(bundle_dir, provider="auto", threads=0)
    result = engine.generate(text_before_cursor, GenerationParams(), on_token=..., cancel=event)

Nothing here imports torch or Qt.
"""

from app.engine.engine import Engine
from app.engine.params import GenerationParams
from app.engine.results import EngineStatus, GenerationResult, Suggestion
from core.errors import ModelError

__all__ = ["Engine", "EngineStatus", "GenerationParams", "GenerationResult", "ModelError", "Suggestion"]
