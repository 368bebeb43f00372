"""How many threads a decode runs on, and whether they spin, from what other programs use.

Measured with bench/bench_engine.py (GPT-2 124M, int8, 2 cores, decode tokens/s): on an idle
machine, intra-op threads that spin between the ~100 short kernels of a step are the fastest
(they sleep once the run returns: ``session.SPINNING`` "run"). While another program keeps a
core busy, spinning threads fight it for that core and decode at about half speed (Intel Xeon:
44 against 107 tokens/s with sleeping threads; AMD EPYC, median: 81 against 140 sleeping and 150
on one thread). So with the setting "CPU
threads" on automatic, the decoder runs on as many cores as other programs leave free, and its
threads sleep between kernels while anything else is busy. A thread count the writer set is
kept as it is.

A session holds one thread pool, fixed when it is created, so each plan has a session of its
own (same graph, same weights). ``Sessions`` keeps the one for an idle machine and the one for
the last busy plan, and makes a new one only when the load changes plan, which is rare.
"""

from __future__ import annotations

from dataclasses import dataclass

# Other programs' use, in cores, from which the machine counts as busy, and below which it is
# idle again; in between the plan stays (a program that comes and goes does not flip it).
BUSY_CORES = 0.5
IDLE_CORES = 0.25


@dataclass(frozen=True)
class Plan:
    threads: int  # intra-op threads; 0: ONNX Runtime's choice, one per core
    spinning: str  # a session.SPINNING policy


IDLE = Plan(0, "run")


def plan_for(cores: int, others: float | None, current: Plan) -> Plan:
    """The plan while other programs keep ``others`` cores busy (None: not known; keep ``current``)."""
    if others is None:
        return current
    if others <= IDLE_CORES:
        return IDLE
    if others < BUSY_CORES:
        return current
    # The cores left free, rounded: with one of two cores taken, one thread has a core to itself.
    free = max(1, int(cores - others + 0.5))
    return Plan(min(free, cores), "off")
