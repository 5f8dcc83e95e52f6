"""Runtime safety envelope: monitors, escalating interventions, fallback, fault injection.

``SafetyEnvelope(world, settings)`` wraps any ATOM world: its monitors (``REASON_CODES``) read
every step, and each ``Violation`` is answered by an intervention (clip, guard, fallback,
rollback, halt) that may move the envelope through its ``MODES`` (nominal, guarded, fallback,
halted); ``EnvelopeTuning`` holds the thresholds. The wrappers in ``atom_sdk.safety.faults`` break
a world on purpose; the bench that checks the envelope catches each of them is
``atom_sdk.evidence.fault_suite.run_fault_suite``. Names are handed on lazily.
"""

import lazy_loader as _lazy

__getattr__, __dir__, __all__ = _lazy.attach(
    __name__,
    submod_attrs={
        "envelope": ["EnvelopeTuning", "SafetyEnvelope"],
        "fallback": ["safe_fallback_action", "zero_actuation"],
        "monitors": ["REASON_CODES", "Violation"],
        "proxy": ["WorldProxy"],
        "report": ["MODES"],
    },
)
