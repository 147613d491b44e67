"""Model architectures; importing this package registers every built-in architecture."""

from irreps.models import ace  # noqa: F401  (registers the many-body model)
from irreps.models import analytic  # noqa: F401  (registers the analytic reference models)
from irreps.models import equiformer  # noqa: F401  (registers eSCN-family models)
from irreps.models import tensornet  # noqa: F401  (registers TensorNet)
from irreps.models import tfn  # noqa: F401  (registers TFN and the SE(3)-Transformer)
from irreps.models.file import load_model, save_model
from irreps.models.registry import available_models, build_model, register_model

__all__ = ["available_models", "build_model", "load_model", "register_model", "save_model"]
