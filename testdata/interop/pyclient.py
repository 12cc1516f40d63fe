"""What the Python service's RedisClient does, for the Go interop tests.

Keys are "{namespace}:{key}"; values are written as the original writes them
(str raw, int and float as str(v), dicts and lists as json.dumps, anything
else pickled) and read as it reads them (json.loads, then pickle, then UTF-8
text). Model predictions live under "{namespace}:model:{model}:{hash}" with
hash_input's md5.
"""

import json
import pickle

import redis

from pyhash import hash_input, tag  # noqa: F401 (re-exported)

DEFAULT_EXPIRY = 86400


class RedisClient:
    def __init__(self, url, namespace="trading"):
        self.client = redis.Redis.from_url(url)
        self.namespace = namespace

    def key(self, key):
        return "%s:%s" % (self.namespace, key)

    def encode(self, value):
        if isinstance(value, (dict, list)):
            return json.dumps(value)
        if isinstance(value, str):
            return value
        if isinstance(value, (int, float)):
            return str(value)
        return pickle.dumps(value)

    def decode(self, data):
        try:
            return json.loads(data)
        except ValueError:
            pass
        try:
            return pickle.loads(data)
        except Exception:
            pass
        return data.decode("utf-8")

    def set(self, key, value, expiry=DEFAULT_EXPIRY):
        return self.client.set(self.key(key), self.encode(value), ex=expiry)

    def get(self, key):
        data = self.client.get(self.key(key))
        if data is None:
            return None
        return self.decode(data)

    def cache_model_prediction(self, model_name, input_hash, prediction, expiry=DEFAULT_EXPIRY):
        return self.set("model:%s:%s" % (model_name, input_hash), prediction, expiry)

    def get_model_prediction(self, model_name, input_hash):
        return self.get("model:%s:%s" % (model_name, input_hash))

    def publish(self, channel, message):
        data = message if isinstance(message, str) else json.dumps(message)
        return self.client.publish(self.key(channel), data)


def dump_tagged(x):
    return json.dumps(tag(x), allow_nan=False)


# The model input of the shared prediction, the same as predictionInput in
# interop_test.go.
PREDICTION_MODEL = "momentum_v2"
PREDICTION_INPUT = {
    "symbol": "AAPL",
    "window": 20,
    "features": [0.12, -1.5e-07, 3.0, 1e16, 2.5],
    "meta": {"source": "ticks", "adjusted": True, "venue": None},
    "tick": 9007199254740993,
    "label": "m\u00f6mentum \U0001F680",
}
PREDICTION = {"prediction": 0.87, "confidence": 0.93, "label": "buy", "horizon": 5}

