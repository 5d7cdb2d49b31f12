#!/usr/bin/env python3
"""Writes test data into a running etcd through its v3 JSON gateway.

Used by tests/lib/etcd.sh; stdlib only.  One keep-alive HTTP connection, so
thousands of requests take seconds, where one etcdctl process per key would
take minutes.

  etcdload.py URL mixed --keys N [--seed S] [--max-size BYTES]
      N keys under /mixed/ of many sizes (a tenth larger than a bbolt page, up
      to 120 KiB, so the db gets overflow pages), then overwrites, deletes,
      keys attached to leases, and a physical compaction halfway.
  etcdload.py URL big --count N --size BYTES --keys K [--compact-every C]
      N puts of BYTES-sized values cycling over K keys; every C puts a
      compaction keeps only the latest revision of each key.  Grows the WAL
      by about N*BYTES while the db stays small.
  etcdload.py URL burst [--seconds T] [--progress FILE]
      Writes without pause until the server goes away (a kill -9) or T
      seconds pass; exits 0 either way and prints how many puts succeeded
      (and keeps that count in FILE as it goes).

Every command prints the last revision it saw on stdout.
"""

import argparse
import base64
import http.client
import json
import os
import random
import sys
import time
import urllib.parse


class Gateway:
    def __init__(self, url):
        u = urllib.parse.urlsplit(url)
        self.host, self.port = u.hostname, u.port
        self.conn = None
        self.revision = 0

    def call(self, path, body):
        data = json.dumps(body).encode()
        for attempt in range(2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
            try:
                self.conn.request("POST", path, data, {"Content-Type": "application/json"})
                resp = self.conn.getresponse()
                payload = resp.read()
            except (http.client.HTTPException, OSError):
                self.conn.close()
                self.conn = None
                if attempt:
                    raise
                continue
            out = json.loads(payload or b"{}")
            if resp.status != 200 or "error" in out:
                raise RuntimeError("%s: HTTP %d %s" % (path, resp.status, payload[:300]))
            rev = out.get("header", {}).get("revision")
            if rev is not None:
                self.revision = max(self.revision, int(rev))
            return out
        raise AssertionError("unreachable")

    def put(self, key, value, lease=0):
        body = {"key": b64(key), "value": b64(value)}
        if lease:
            body["lease"] = str(lease)
        return self.call("/v3/kv/put", body)

    def delete(self, key, range_end=None):
        body = {"key": b64(key)}
        if range_end is not None:
            body["range_end"] = b64(range_end)
        return self.call("/v3/kv/deleterange", body)

    def compact(self, revision):
        return self.call("/v3/kv/compaction", {"revision": str(revision), "physical": True})

    def lease(self, ttl):
        return int(self.call("/v3/lease/grant", {"TTL": str(ttl)})["ID"])


def b64(b):
    if isinstance(b, str):
        b = b.encode()
    return base64.b64encode(b).decode()


def value(rng, size):
    # Mostly compressible text with some random bytes: looks like real data.
    head = rng.randbytes(min(size, 64))
    return head + (b"etcd-medic fixture " * (size // 19 + 1))[: size - len(head)]


def mixed(gw, args):
    rng = random.Random(args.seed)
    sizes = []
    for _ in range(args.keys):
        r = rng.random()
        if r < 0.7:
            sizes.append(rng.randint(10, 200))
        elif r < 0.9:
            sizes.append(rng.randint(200, 3000))
        else:
            sizes.append(rng.randint(5000, args.max_size))
    keys = ["/mixed/%06d" % i for i in range(args.keys)]
    for k, s in zip(keys, sizes):
        gw.put(k, value(rng, s))
    half = gw.revision
    for k in rng.sample(keys, args.keys // 5):
        gw.put(k, value(rng, rng.randint(10, 6000)))
    for k in rng.sample(keys, args.keys // 10):
        gw.delete(k)
    leases = [gw.lease(ttl) for ttl in (3600, 7200, 86400)]
    for i in range(max(3, args.keys // 50)):
        gw.put("/leased/%04d" % i, value(rng, rng.randint(10, 500)), lease=leases[i % len(leases)])
    gw.delete("/mixed/0001", "/mixed/0002")  # a range delete
    gw.compact(half)


def big(gw, args):
    rng = random.Random(args.seed)
    for i in range(args.count):
        gw.put("/big/%03d" % (i % args.keys), value(rng, args.size))
        if args.compact_every and (i + 1) % args.compact_every == 0:
            gw.compact(gw.revision - args.keys)


def burst(gw, args):
    rng = random.Random(args.seed)
    n = 0
    end = time.monotonic() + args.seconds
    try:
        while time.monotonic() < end:
            size = rng.choice((20, 100, 800, 3000, 9000))
            gw.put("/burst/%05d" % (n % 5000), value(rng, size))
            n += 1
            if args.progress and n % 20 == 0:
                with open(args.progress + ".tmp", "w") as f:
                    f.write("%d\n" % n)
                os.replace(args.progress + ".tmp", args.progress)
    except (OSError, http.client.HTTPException, RuntimeError, ValueError) as e:
        print("burst: stopped after %d puts: %s" % (n, e.__class__.__name__), file=sys.stderr)
    else:
        print("burst: %d puts in %ss" % (n, args.seconds), file=sys.stderr)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("url", help="client URL, e.g. http://127.0.0.1:2379")
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("mixed")
    p.add_argument("--keys", type=int, default=1000)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--max-size", type=int, default=120 * 1024,
                   help="largest value; a tenth of the values are 5000..this")
    p = sub.add_parser("big")
    p.add_argument("--count", type=int, required=True)
    p.add_argument("--size", type=int, required=True)
    p.add_argument("--keys", type=int, default=8)
    p.add_argument("--compact-every", type=int, default=0)
    p.add_argument("--seed", type=int, default=2)
    p = sub.add_parser("burst")
    p.add_argument("--seconds", type=float, default=30)
    p.add_argument("--seed", type=int, default=3)
    p.add_argument("--progress", help="file to write the number of acknowledged puts to, every 20")
    args = ap.parse_args()
    gw = Gateway(args.url)
    {"mixed": mixed, "big": big, "burst": burst}[args.cmd](gw, args)
    print(gw.revision)


if __name__ == "__main__":
    main()
