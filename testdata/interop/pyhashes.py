"""Generate a HashInput parity corpus with the Python service's hash_input.

Prints one JSON line per input: {"input": <tagged>, "md5": <hash>}. Inputs
are tagged so that Go rebuilds exactly the Python value, types included:

    {"none": true} {"bool": b} {"int": "digits"} {"float": "repr"}
    {"str": s} {"list": [...]} {"tuple": [...]} {"dict": [[key, value], ...]}

Usage: pyhashes.py [seed] [count]
"""

import json
import math
import random
import struct
import sys

from pyhash import hash_input, tag


ASTRAL = [0x1F600, 0x1F680, 0x10000, 0x1D11E, 0x10FFFF, 0x20000, 0x1F4A9]
SPECIAL = ['"', "\\", "\n", "\r", "\t", "\b", "\f", "\x00", "\x1f", "\x7f", "/",
           "\u2028", "\u2029", "\ufeff", "\ufffd", "\u00e9", "\u00ff", "\u0100"]


def rand_char(r):
    k = r.random()
    if k < 0.5:
        return chr(r.randint(0x20, 0x7E))
    if k < 0.6:
        return r.choice(SPECIAL)
    if k < 0.7:
        return chr(r.randint(0x00, 0x1F))
    if k < 0.8:
        return chr(r.randint(0x80, 0x7FF))
    if k < 0.9:
        c = r.randint(0x800, 0xFFFD)
        while 0xD800 <= c <= 0xDFFF:
            c = r.randint(0x800, 0xFFFD)
        return chr(c)
    if k < 0.95:
        return chr(r.choice(ASTRAL))
    return chr(r.randint(0x10000, 0x10FFFF))


def rand_str(r, n=None):
    if n is None:
        n = r.choice([0, 1, 2, 3, 5, 8, 13, 30])
    return "".join(rand_char(r) for _ in range(n))


def rand_float(r):
    k = r.randint(0, 9)
    if k == 0:
        return r.uniform(-1e6, 1e6)
    if k == 1:
        return r.choice([-1, 1]) * 10 ** r.uniform(-320, 308)
    if k == 2:
        return float(r.randint(-10**17, 10**17))
    if k == 3:
        return struct.unpack("<d", r.getrandbits(64).to_bytes(8, "little"))[0]
    if k == 4:
        return r.choice([0.0, -0.0, 1e16, 1e15, 9999999999999998.0, 1e-4, 1e-5,
                         0.1, 0.2, 0.3, 1 / 3, 2.5, 5e-324, 2.2250738585072014e-308,
                         1.7976931348623157e308, math.inf, -math.inf, math.nan,
                         123456789.0, 1e22, 1e21, 1e-7, 0.5, 100.0])
    if k == 5:
        return round(r.uniform(-1000, 1000), r.randint(0, 6))
    if k == 6:
        return r.random()
    if k == 7:
        return r.randint(1, 10**6) * 10.0 ** r.randint(-12, 20)
    if k == 8:
        return -r.random() * 10 ** r.randint(-8, 8)
    return r.gauss(0, 1)


def rand_int(r):
    k = r.randint(0, 5)
    if k == 0:
        return r.randint(-1000, 1000)
    if k == 1:
        return r.choice([2**53, 2**53 + 1, -(2**53) - 1, 2**63 - 1, 2**63, -(2**63),
                         -(2**63) - 1, 2**64 - 1, 2**64, 10**30, -(10**30), 0])
    if k == 2:
        return r.randint(-(2**63), 2**63 - 1)
    if k == 3:
        return r.randint(0, 2**64 - 1)
    if k == 4:
        return r.randint(-(2**200), 2**200)
    return r.randint(-10**12, 10**12)


def rand_scalar(r):
    k = r.randint(0, 9)
    if k <= 2:
        return rand_float(r)
    if k <= 4:
        return rand_int(r)
    if k <= 6:
        return rand_str(r)
    if k == 7:
        return r.choice([True, False])
    if k == 8:
        return None
    return r.choice(["", "0", "1.0", "None", "True", "null", "NaN"])


def rand_key(r, kind):
    if kind == "str":
        return rand_str(r, r.choice([0, 1, 3, 6, 10]))
    if kind == "ident":
        return r.choice(["a", "b", "price", "Qty", "feature_1", "x y", "é", "Ω", "k-1", "Z"]) + str(r.randint(0, 99))
    if kind == "int":
        return rand_int(r)
    if kind == "float":
        f = rand_float(r)
        return 0.5 if f != f else f  # see below
    if kind == "bool":
        return r.choice([True, False])
    # Mixed int, float and bool keys: Python sorts them by value. A NaN key
    # among others is left out: Python's order then depends on insertion
    # order, which Go maps do not have (Go reports an error).
    if r.random() < 0.5:
        return rand_int(r)
    if r.random() < 0.8:
        f = rand_float(r)
        return 0.5 if f != f else f
    return r.choice([True, False])


def rand_value(r, depth):
    if depth <= 0 or r.random() < 0.35:
        return rand_scalar(r)
    k = r.randint(0, 9)
    n = r.choice([0, 1, 2, 3, 4, 6, 10])
    if k <= 2:
        return [rand_value(r, depth - 1) for _ in range(n)]
    if k == 3:
        return tuple(rand_value(r, depth - 1) for _ in range(n))
    if k == 4:
        return [rand_float(r) for _ in range(n)]
    if k == 5:
        return [rand_int(r) for _ in range(n)]
    kind = r.choice(["str", "str", "ident", "ident", "int", "float", "bool", "num"])
    d = {}
    for _ in range(n):
        d[rand_key(r, kind)] = rand_value(r, depth - 1)
    return d


def fixed_cases():
    cases = [
        None, True, False, 0, 1, -1, 42, 2**53 + 1, 2**63, -(2**63) - 1, 2**64, 10**40,
        0.0, -0.0, 1.0, 3.0, -3.0, 0.1, 1e16, 1e15, 1e-4, 1e-5, 1.5e300, 5e-324,
        1.7976931348623157e308, 9999999999999998.0, 123456789012345678.0,
        math.inf, -math.inf, math.nan,
        "", "hello", "héllo wörld", "😀", "a\"b\\c", "line\nbreak", "\x00\x7f", "None", "True",
        "{\"a\": 1}", "[1, 2]", "\u2028", "\U0010FFFF", "日本語",
        [], {}, (), [[]], [{}], {"": {}}, {"a": []},
        [1, 2, 3], [1.0, 2.0, 3.0], [1, 1.0, True, None, "1"], (1, 2), (1, (2, (3,))),
        {"b": 1, "a": 2}, {"a": {"c": 3, "b": [1, {"z": None, "y": True}]}},
        {"symbol": "AAPL", "features": [0.1, 0.25, -1.5e-7, 1e21], "window": 20},
        {"é": 1, "e": 2, "z": 3, "Z": 4, "😀": 5, "\uffff": 6, "\U00010000": 7, "": 8},
        {10: "a", 9: "b", -1: "c", 2**70: "d"}, {2.5: 1, 1: 2, float("inf"): 3, -0.5: 4},
        {True: "t", False: "f"}, {None: 1}, {float("nan"): 1}, {1.0: "one", 2: "two"},
        {"nan": math.nan, "inf": math.inf, "ninf": -math.inf},
        [math.nan, math.inf, -math.inf, -0.0, 0.0],
        {"nested": [[[[[[1]]]]]]}, [[1, [2, [3, [4, [5]]]]]],
        {"t": (1, 2.0, "x")}, ("a", ["b", ("c",)]),
        {"big": 2**100, "neg": -(2**100), "f": 2.0**100},
        ["\b\f\n\r\t", "\x01\x1f", "/", "</script>", "&<>"],
    ]
    for k in range(-10, 25):
        cases.append(10.0 ** k)
        cases.append([1.5 * 10.0 ** k])
    return cases


def main():
    seed = int(sys.argv[1]) if len(sys.argv) > 1 else 20240601
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 600
    r = random.Random(seed)
    inputs = fixed_cases()
    while len(inputs) < count:
        inputs.append(rand_value(r, r.randint(0, 4)))
    out = sys.stdout
    n = 0
    for x in inputs:
        try:
            h = hash_input(x)
        except (TypeError, ValueError):
            continue  # the original falls back to a random hash; not comparable
        out.write(json.dumps({"input": tag(x), "md5": h}, allow_nan=False) + "\n")
        n += 1
    sys.stderr.write("pyhashes: %d inputs\n" % n)


if __name__ == "__main__":
    main()
