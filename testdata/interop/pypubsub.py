"""Pub/sub the way the Python service does it.

Usage:
  pypubsub.py REDIS_URL NAMESPACE publish CHANNEL
      publishes each message of pubsub_messages() on "{ns}:{channel}"
      (json.dumps unless a str) and prints {"counts": subscribers reached,
      "messages": the messages, tagged}.
  pypubsub.py REDIS_URL NAMESPACE subscribe CHANNEL COUNT TIMEOUT
      subscribes to "{ns}:{channel}", prints "ready" once Redis confirmed,
      then prints one line per message: the tagged value the original's
      reader gets (json.loads, else text), until COUNT messages arrived or
      TIMEOUT seconds passed.
"""

import json
import math
import sys
import time

from pyclient import RedisClient, dump_tagged, tag


def pubsub_messages():
    return [
        {"signal": "BUY", "symbol": "AAPL", "price": 189.25, "qty": 100,
         "score": math.nan, "stop": -math.inf, "note": "caf\u00e9 \U0001F680",
         "ts": 1717243200, "tags": ["momentum", "us"], "meta": None},
        [1, 2.5, "three"],
        "plain text signal",
    ]


def decode(data):
    try:
        return json.loads(data)
    except ValueError:
        return data.decode("utf-8")


def main():
    url, ns, mode, channel = sys.argv[1:5]
    c = RedisClient(url, ns)
    if mode == "publish":
        msgs = pubsub_messages()
        counts = [c.publish(channel, m) for m in msgs]
        json.dump({"counts": counts, "messages": [tag(m) for m in msgs]}, sys.stdout, allow_nan=False)
        return
    count, timeout = int(sys.argv[5]), float(sys.argv[6])
    p = c.client.pubsub()
    p.subscribe(c.key(channel))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        m = p.get_message(timeout=0.5)
        if m and m["type"] == "subscribe":
            break
    else:
        sys.exit("no subscribe confirmation")
    print("ready", flush=True)
    got = 0
    while got < count and time.monotonic() < deadline:
        m = p.get_message(timeout=0.5)
        if m and m["type"] == "message":
            print(dump_tagged(decode(m["data"])), flush=True)
            got += 1
    p.close()
    if got < count:
        sys.exit("received %d of %d messages" % (got, count))


if __name__ == "__main__":
    main()
