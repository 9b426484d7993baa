"""Optional official encoders (user-supplied weights): DECA's coarse encoder and SMIRK's expression
encoder, with their official preprocessing. See docs/tracking.md ("Encoders")."""

from .checkpoint import load_deca_encoder, load_smirk_encoder
from .deca import DecaCode, DecaEncoder
from .smirk import SmirkCode, SmirkExpressionEncoder

__all__ = ["DecaCode", "DecaEncoder", "SmirkCode", "SmirkExpressionEncoder", "load_deca_encoder",
           "load_smirk_encoder"]
