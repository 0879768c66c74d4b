"""Notebook parameters: a profile supplies every value; explicit (non-None) values override it.

A notebook's ``parameters`` cell holds flat literals; ``None`` means "the profile's value".
Types are checked here so a wrong parameter fails at once with its name, not deep in torch.
"""
from __future__ import annotations

import copy
from typing import Any, Mapping

__all__ = ["PROFILE_NAMES", "resolve_parameters"]

PROFILE_NAMES = ("smoke", "book", "paper")
COMMON = {"seed": 0}  # parameters every notebook has, whatever its profiles say


def _type_ok(value: Any, reference: Any) -> bool:
    if isinstance(reference, bool):
        return isinstance(value, bool)
    if isinstance(reference, int):
        return isinstance(value, int) and not isinstance(value, bool)
    if isinstance(reference, float):
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if isinstance(reference, (list, tuple)):
        if not isinstance(value, (list, tuple)):
            return False
        if reference and len(value):
            return all(_type_ok(v, reference[0]) for v in value)
        return True
    if reference is None:
        return True
    return isinstance(value, type(reference))


def resolve_parameters(profiles: Mapping[str, Mapping[str, Any]], profile: str, **explicit: Any) -> dict[str, Any]:
    """The profile's values (and ``seed``), overridden by every explicit value that is not None.

    The result holds exactly the keyword arguments of the notebook's experiment function, so a
    notebook calls ``run_x(**P)``; the profile's name is not among them (record it separately).

    Raises:
        ValueError: unknown profile (listing the valid ones) or unknown parameter name.
        TypeError: a value whose type does not match the profile's (naming the parameter).
    """
    if not isinstance(profile, str) or profile not in profiles:
        raise ValueError(f"profile must be one of {sorted(profiles)}, got {profile!r}")
    params = copy.deepcopy({**COMMON, **profiles[profile]})  # never alias a profile's lists
    for name, value in explicit.items():
        if name not in params:
            raise ValueError(f"unknown parameter {name!r}; valid parameters: {sorted(params)}")
        if value is None:
            continue
        if not _type_ok(value, params[name]):
            raise TypeError(f"parameter {name!r} must be of type {type(params[name]).__name__} "
                            f"(like the profile's {params[name]!r}), got {value!r} ({type(value).__name__})")
        params[name] = float(value) if isinstance(params[name], float) else value
    return params
