"""hash_input of the Python service, and the tagged JSON form the Go tests
read Python values from. It needs no Redis module, so the hash parity test
runs wherever Python does."""

import hashlib
import json


def hash_input(x):
    """hash_input of the original: md5 of json.dumps(sort_keys) or of str()."""
    if isinstance(x, (dict, list, tuple, set)):
        s = json.dumps(x, sort_keys=True)
    else:
        s = str(x)
    return hashlib.md5(s.encode()).hexdigest()


def tag(x):
    """A JSON-safe form of x that keeps Python's types.

    {"none": true} {"bool": b} {"int": "digits"} {"float": "repr"} {"str": s}
    {"list": [...]} {"tuple": [...]} {"dict": [[key, value], ...]}
    {"other": "repr"} for anything else (such as an unpickled set).
    """
    if x is None:
        return {"none": True}
    if isinstance(x, bool):
        return {"bool": x}
    if isinstance(x, int):
        return {"int": str(x)}
    if isinstance(x, float):
        return {"float": repr(x)}
    if isinstance(x, str):
        return {"str": x}
    if isinstance(x, tuple):
        return {"tuple": [tag(v) for v in x]}
    if isinstance(x, list):
        return {"list": [tag(v) for v in x]}
    if isinstance(x, dict):
        return {"dict": [[tag(k), tag(v)] for k, v in x.items()]}
    return {"other": repr(x)}
