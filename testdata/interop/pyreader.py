"""Read keys with the Python service's get and print what it returns.

Usage: pyreader.py REDIS_URL NAMESPACE < keys.json

stdin is a JSON object {"keys": [key, ...], "prediction": {"model": m,
"input": tagged}} (the prediction is optional). Prints {"values": {key:
tagged value or {"missing": true}}, "prediction": {"hash": h, "value":
tagged}}.
"""

import json
import sys

from pyclient import PREDICTION_INPUT, PREDICTION_MODEL, RedisClient, hash_input, tag


def main():
    url, ns = sys.argv[1], sys.argv[2]
    req = json.load(sys.stdin)
    c = RedisClient(url, ns)
    out = {"values": {}}
    for key in req["keys"]:
        v = c.get(key)
        out["values"][key] = {"missing": True} if v is None and c.client.get(c.key(key)) is None else tag(v)
    if req.get("prediction"):
        h = hash_input(PREDICTION_INPUT)
        v = c.get_model_prediction(PREDICTION_MODEL, h)
        out["prediction"] = {"hash": h, "value": {"missing": True} if v is None else tag(v)}
    json.dump(out, sys.stdout, allow_nan=False)


if __name__ == "__main__":
    main()
