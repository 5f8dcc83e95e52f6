"""Runtime safety envelope: monitors, escalating interventions, fault injection.

``SafetyEnvelope(world, settings)`` supervises any ATOM world; ``run_fault_suite`` checks that
injected faults are detected and handled (see ``atom_sdk.safety.faults``).
"""

from atom_sdk.safety.envelope import MODES, EnvelopeTuning, SafetyEnvelope
from atom_sdk.safety.fallback import safe_fallback_action, zero_actuation
from atom_sdk.safety.monitors import REASON_CODES, Violation
from atom_sdk.safety.proxy import WorldProxy

__all__ = ["MODES", "REASON_CODES", "EnvelopeTuning", "SafetyEnvelope", "Violation", "WorldProxy",
           "safe_fallback_action", "zero_actuation"]
