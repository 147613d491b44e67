"""irreps: symmetry-equivariant deep learning for 3D atomistic systems.

Layers (each imports only from those listed before it): ``o3`` (representation theory),
``ops`` (equivariant operations), ``data``, ``nn``, ``models``, ``train``, ``calculators``,
``sim``, ``groups``, ``testing``, ``cli``. See ``docs/layers.md``.
"""

__version__ = "0.1.0"
