"""core.checks: the one way values from people, command lines and files are checked, and the
parameters the editor builds from its settings (app.generation) are checked on the GUI thread."""

from __future__ import annotations

import pytest

from app.engine.params import GenerationParams
from app.generation import params_for
from app.settings import Settings
from core import checks


@pytest.mark.parametrize("check, message", [
    (lambda: checks.whole("top_k", -1, low=0), "top_k must be at least 0 (got -1)"),
    (lambda: checks.whole("steps", 2.0, low=1), "steps must be a whole number (got 2.0)"),
    (lambda: checks.whole("n", True, low=0), "n must be a whole number (got True)"),
    (lambda: checks.whole("alternatives", 9, 1, 8), "alternatives must be between 1 and 8 (got 9)"),
    (lambda: checks.whole("seed", 10**40, 0, 2**31 - 1),
     "seed must be between 0 and 2147483647 (got a 41-digit number)"),
    (lambda: checks.number("top_p", 0, 0, 1, above=True), "top_p must be above 0 and at most 1 (got 0)"),
    (lambda: checks.number("beta1", 1.0, 0, 1, below=True), "beta1 must be at least 0 and below 1 (got 1)"),
    (lambda: checks.number("lr", float("nan"), 0), "lr must be a finite number (got nan)"),
    (lambda: checks.number("lr", 10**400, 0), "lr must be a finite number (got a 401-digit number)"),
    (lambda: checks.number("lr", "fast", 0), "lr must be a finite number (got 'fast')"),
    (lambda: checks.choice("method", "half", ("full", "lora")), "method must be full or lora (got 'half')"),
    (lambda: checks.choice("device", "tpu", ("auto", "cpu", "cuda")),
     "device must be one of auto, cpu, cuda (got 'tpu')"),
    (lambda: checks.flag("heal", "yes"), "heal must be true or false (got 'yes')"),
    (lambda: checks.texts("stop_strings", ["", "x"]),
     "stop_strings must be a list of non-empty strings (got ['', 'x'])"),
    (lambda: checks.texts("stop_strings", "x" * 500), "stop_strings must be a list of non-empty strings (got 'xxxx"),
])
def test_each_check_names_the_value_says_what_it_must_be_and_what_it_got(check, message):
    with pytest.raises(ValueError) as raised:
        check()
    assert str(raised.value).startswith(message) and len(str(raised.value)) < 200


def test_good_values_pass_through():
    assert checks.whole("n", 3, 1, 8) == 3
    assert checks.number("t", 1, 0, 2) == 1.0 and isinstance(checks.number("t", 1, 0, 2), float)
    assert checks.choice("c", "cpu", ("cpu",)) == "cpu" and checks.flag("f", False) is False
    assert checks.texts("s", ("a", "b")) == ["a", "b"]


@pytest.mark.parametrize("job, message", [
    ({"steps": 0}, "steps must be at least 1 (got 0)"),
    ({"lr": 0.0}, "lr must be above 0 (got 0)"),
    ({"beta2": 1.5}, "beta2 must be at least 0 and below 1 (got 1.5)"),
    ({"method": "half"}, "method must be full or lora (got 'half')"),
])
def test_a_training_job_speaks_the_same_words(job, message):
    from model.train_job import Job, TrainError

    with pytest.raises(TrainError, match=message.replace("(", r"\(").replace(")", r"\)")):
        Job.from_dict({"data": ["a.txt"], "out": "run", **job}, "job").validate()


def test_the_settings_file_speaks_the_same_words(inkwell_home):
    settings = Settings.load()
    with pytest.raises(ValueError, match=r"temperature must be at least 0 and at most 2 \(got 3\)"):
        settings.set("temperature", 3)
    with pytest.raises(ValueError, match=r"theme must be light or dark \(got 'blue'\)"):
        settings.set("theme", "blue")
    settings.set("temperature", 1)
    assert settings["temperature"] == 1.0 and isinstance(settings["temperature"], float)


def test_the_editor_builds_typed_parameters_from_its_settings(inkwell_home):
    settings = Settings.load()
    settings.update({"alternatives": 4, "length": "word", "suggestion_tokens": 20, "seed": 7, "story_tokens": 300})
    suggestion = params_for(settings, "suggestion", retries=2)
    assert isinstance(suggestion, GenerationParams) and suggestion.validate() is suggestion
    assert (suggestion.num_alternatives, suggestion.length, suggestion.max_new_tokens) == (4, "word", 20)
    assert suggestion.seed == 7
    story = params_for(settings, "story", retries=2)
    assert (story.num_alternatives, story.length, story.max_new_tokens, story.stop_at_eot) == (1, "tokens", 300, False)
    assert story.seed == 9  # a retry of a story with a fixed seed is a new sample
    # A suggestion never loops on itself; a story's phrases may recur.
    assert (suggestion.no_repeat_own_ngram_size, story.no_repeat_own_ngram_size) == (3, 0)


def test_text_and_entries_say_the_limit_and_what_was_given():
    from core import checks

    assert checks.text("name", "abc", 3) == "abc"
    with pytest.raises(ValueError, match=r"^name must be at most 3 characters long \(got 4\)$"):
        checks.text("name", "abcd", 3)
    with pytest.raises(ValueError, match=r"^name must be text \(got 4\)$"):
        checks.text("name", 4, 3)
    assert checks.entries("keys", {"a": 1}, 1, 5) == {"a": 1}
    with pytest.raises(ValueError, match=r"^keys must have at most 1 entries \(got 2\)$"):
        checks.entries("keys", {"a": 1, "b": 2}, 1, 5)
    with pytest.raises(ValueError, match=r"^keys must name every entry with text of at most 5 characters \(got 'abcdef'\)$"):
        checks.entries("keys", {"abcdef": 1}, 2, 5)
