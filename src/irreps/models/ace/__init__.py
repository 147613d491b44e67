"""The many-body (MACE-style) family: atomic basis, symmetric products on Gaunt or CG engines.

``model`` holds the frozen config and the registered ``gaunt_ace`` module, ``interaction`` one
interaction block; the product itself is :mod:`irreps.ops.many_body`.
"""

from irreps.models.ace.model import GauntACE, GauntACEConfig

__all__ = ["GauntACE", "GauntACEConfig"]
