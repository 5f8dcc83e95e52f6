"""Runtime safety envelope: monitors, escalating interventions, fault injection.

``SafetyEnvelope(world, settings)`` supervises any ATOM world; the wrappers in
``atom_sdk.safety.faults`` break a world on purpose, and the bench that checks the envelope
catches each of them is ``atom_sdk.evidence.fault_suite.run_fault_suite``.
"""

from atom_sdk.safety.envelope import MODES, EnvelopeTuning, SafetyEnvelope
from atom_sdk.safety.fallback import safe_fallback_action, zero_actuation
from atom_sdk.safety.monitors import REASON_CODES, Violation
from atom_sdk.safety.proxy import WorldProxy

__all__ = ["MODES", "REASON_CODES", "EnvelopeTuning", "SafetyEnvelope", "Violation", "WorldProxy",
           "safe_fallback_action", "zero_actuation"]
