#!/usr/bin/env python3
"""breakdb.py DB - damages an etcd db the way a misdirected write does: the
root page of etcd's `key` bucket gets another page's id in its header, which
bbolt (and so etcd) crashes on.  Prints what it did.  Used by the local demo
and the heal tests; stdlib only.
"""

import struct
import sys


def break_key_root(path):
    """Returns the page id it damaged."""
    with open(path, "r+b") as f:
        data = f.read()
        ps = struct.unpack_from("<I", data, 24)[0]
        meta = max((0, 1), key=lambda i: struct.unpack_from("<Q", data, i * ps + 64)[0])
        root = struct.unpack_from("<Q", data, meta * ps + 32)[0]
        count = struct.unpack_from("<H", data, root * ps + 10)[0]
        for i in range(count):
            e = root * ps + 16 + 16 * i
            _, pos, ksize, _ = struct.unpack_from("<IIII", data, e)
            if data[e + pos:e + pos + ksize] == b"key":
                target = struct.unpack_from("<Q", data, e + pos + ksize)[0]
                f.seek(target * ps)
                f.write(struct.pack("<Q", target + 7))
                return target
    raise RuntimeError("no key bucket in %s" % path)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: breakdb.py DB")
    page = break_key_root(sys.argv[1])
    print("page %d (root of bucket 'key'): header id set to %d" % (page, page + 7))
