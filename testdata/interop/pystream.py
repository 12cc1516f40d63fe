"""Redis Streams the way a Python service would use them with redis-py.

An entry is one field, "data", holding the value as the Python RedisClient
encodes it (json.dumps for dicts and lists, str raw, numbers as str(v)).

Usage:
  pystream.py REDIS_URL NAMESPACE add STREAM
      xadds each message of pubsub_messages() to "{ns}:{stream}" and prints
      {"ids": entry IDs, "messages": the messages, tagged}.
  pystream.py REDIS_URL NAMESPACE consume STREAM GROUP CONSUMER COUNT TIMEOUT
      creates GROUP from the first entry if missing, reads with xreadgroup,
      prints one line per message (the tagged value the original's reader
      gets: json.loads, else pickle, else text) and acknowledges it, until
      COUNT messages arrived or TIMEOUT seconds passed.
"""

import json
import sys
import time

import redis

from pyclient import RedisClient, dump_tagged, tag
from pypubsub import pubsub_messages


def main():
    url, ns, mode, stream = sys.argv[1:5]
    c = RedisClient(url, ns)
    key = c.key(stream)
    if mode == "add":
        msgs = pubsub_messages()
        ids = [c.client.xadd(key, {"data": c.encode(m)}, maxlen=1000000, approximate=True).decode() for m in msgs]
        json.dump({"ids": ids, "messages": [tag(m) for m in msgs]}, sys.stdout, allow_nan=False)
        return
    group, consumer, count, timeout = sys.argv[5], sys.argv[6], int(sys.argv[7]), float(sys.argv[8])
    try:
        c.client.xgroup_create(key, group, id="0", mkstream=True)
    except redis.ResponseError as e:
        if not str(e).startswith("BUSYGROUP"):
            raise
    got = 0
    deadline = time.monotonic() + timeout
    while got < count and time.monotonic() < deadline:
        for _, entries in c.client.xreadgroup(group, consumer, {key: ">"}, count=10, block=200) or []:
            for entry_id, fields in entries:
                print(dump_tagged(c.decode(fields[b"data"])), flush=True)
                c.client.xack(key, group, entry_id)
                got += 1
    if got < count:
        sys.exit("received %d of %d messages" % (got, count))


if __name__ == "__main__":
    main()
