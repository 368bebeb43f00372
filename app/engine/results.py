"""What the engine reports: its status, and the result of a request."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class EngineStatus:
    provider: str  # "cpu" or "cuda": where the model runs
    variant: str  # the bundle variant in use: "int8", "fp16" or "fp32"
    model_name: str
    message: str = ""  # why the engine is not running as asked (e.g. CUDA fell back to CPU)


@dataclass
class Suggestion:
    text: str  # what to insert at the cursor
    token_ids: list[int]  # the generated tokens (the first may begin with healed text)
    # The model's probability of each token (softmax of its logits after the repetition
    # penalty; the first token's among those token healing allows).
    probs: list[float]
    row: int = 0  # the engine row that made it (the index its streamed pieces came with)
    # Calibrated probabilities (app/engine/trust.py) that the first word, and all of it, are right.
    confidence: float = 1.0
    first_probability: float = 1.0  # the model's, before calibration: the first word's tokens' product
    whole_confidence: float = 1.0


@dataclass
class GenerationResult:
    alternatives: list[Suggestion] = field(default_factory=list)
    cancelled: bool = False
    prefill_ms: float = 0.0  # time to bring the cache up to the prompt
    prefill_tokens: int = 0  # prompt tokens that had to run (the rest came from the cache)
    decode_tokens_per_s: float = 0.0  # decode steps per second (each step extends every alternative)
    total_ms: float = 0.0
    non_words: int = 0  # rows not shown: they made a word neither the dictionary nor the document knows
    unsure: int = 0  # rows not shown: their first word's confidence was below min_show(_completion)

    @property
    def text(self) -> str:
        return self.alternatives[0].text if self.alternatives else ""
