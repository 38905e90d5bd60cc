"""splittui: plan split inference of transformer models (SplitLLM, with SPEC.md's corrections).

The public API is imported lazily so that ``import splittui`` stays cheap.
"""

__version__ = "0.1.0"

_API = {
    "load_profile": "splittui.profiles", "save_profile": "splittui.profiles",
    "Scenario": "splittui.model", "Profile": "splittui.model", "Result": "splittui.model",
    "Layer": "splittui.model", "SplittuiError": "splittui.errors",
    "solve": "splittui.solvers", "solve_all": "splittui.solvers", "evaluate": "splittui.solvers",
    "frontier": "splittui.solvers", "SOLVERS": "splittui.solvers",
    "policy_document": "splittui.policy", "load_policy": "splittui.policy",
}

__all__ = ["__version__", *_API]


def __getattr__(name: str):
    if name in _API:
        import importlib

        return getattr(importlib.import_module(_API[name]), name)
    raise AttributeError(f"module 'splittui' has no attribute {name!r}")
