"""Write values the way the Python service does, then print a manifest.

Usage: pywriter.py REDIS_URL NAMESPACE

The manifest is one JSON object: {"values": {name: key}, "expected":
{name: tagged value Python's get returns}, "prediction": {"model", "hash",
"key"}, "pickle": key}. Keys are given without the namespace.
"""

import json
import math
import sys

from pyclient import PREDICTION, PREDICTION_INPUT, PREDICTION_MODEL, RedisClient, hash_input, tag

VALUES = {
    "str": "h\u00e9llo w\u00f6rld \U0001F600",
    "str_json_like": "not {json",
    "int": 42,
    "int_negative": -7,
    "bigint": 2**70,
    "float": 3.14,
    "float_integral": 3.0,
    "float_tiny": 1e-05,
    "float_huge": 1e16,
    "float_inf": math.inf,
    "float_ninf": -math.inf,
    "float_nan": math.nan,
    "bool": True,
    "list": [1, 2.5, "x", None, True, {"a": [1, 2]}],
    "list_floats": [1.0, 0.5, math.nan, math.inf, -0.0],
    "dict": {
        "symbol": "AAPL",
        "price": 189.25,
        "qty": 100,
        "tags": ["tech", "us"],
        "ratio": math.nan,
        "limit": math.inf,
        "note": "na\u00efve \u2603 \U0001F600",
        "filled": False,
        "parent": None,
    },
    "dict_empty": {},
    "list_empty": [],
}


def main():
    url, ns = sys.argv[1], sys.argv[2]
    c = RedisClient(url, ns)
    manifest = {"values": {}, "expected": {}}
    for name, value in VALUES.items():
        c.set(name, value)
        manifest["values"][name] = name
        manifest["expected"][name] = tag(c.get(name))

    # A value the original pickles: Go must refuse it.
    c.set("pickled", {1, 2, 3})
    manifest["pickle"] = "pickled"

    h = hash_input(PREDICTION_INPUT)
    c.cache_model_prediction(PREDICTION_MODEL, h, PREDICTION)
    manifest["prediction"] = {
        "model": PREDICTION_MODEL,
        "hash": h,
        "key": "model:%s:%s" % (PREDICTION_MODEL, h),
        "expected": tag(c.get_model_prediction(PREDICTION_MODEL, h)),
    }
    json.dump(manifest, sys.stdout, allow_nan=False)


if __name__ == "__main__":
    main()
