#!/usr/bin/env python3
"""A tiny CQL native-protocol (v4) client, standard library only.

Used by ops/cassandra to tell that a node really serves CQL (a TCP connect is
not enough) and to run a few statements without installing a driver.

  cql.py probe HOST [--port 9042] [--timeout 2]
      OPTIONS -> SUPPORTED, STARTUP -> READY, then reads the node's
      release_version from system.local. Exit 0 and prints the version, or
      exit 1 with the reason on stderr.

  cql.py smoke HOST [HOST...] [--port 9042]
      End-to-end check of a running cluster: every host sees all the others
      in system.peers; a keyspace (RF = min(3, hosts)) and a table are made,
      a lightweight transaction inserts once and is refused the second time,
      and every host reads the row back at QUORUM. The keyspace is dropped.

  cql.py query HOST [--port 9042] [--consistency ONE] [-k KEYSPACE] STATEMENT...
      Runs each statement (a statement argument may hold several, separated by
      ';'). Rows are printed as a header line and one line per row, columns
      separated by ' | '. Exit 1 on the first error.
"""

import argparse
import ipaddress
import socket
import struct
import sys
import uuid
from datetime import datetime, timedelta, timezone
from decimal import Decimal

VERSION = 0x04
OP_ERROR, OP_STARTUP, OP_READY, OP_AUTHENTICATE = 0x00, 0x01, 0x02, 0x03
OP_OPTIONS, OP_SUPPORTED, OP_QUERY, OP_RESULT = 0x05, 0x06, 0x07, 0x08

CONSISTENCY = {
    "ANY": 0x0000, "ONE": 0x0001, "TWO": 0x0002, "THREE": 0x0003,
    "QUORUM": 0x0004, "ALL": 0x0005, "LOCAL_QUORUM": 0x0006,
    "EACH_QUORUM": 0x0007, "SERIAL": 0x0008, "LOCAL_SERIAL": 0x0009,
    "LOCAL_ONE": 0x000A,
}


class CqlError(Exception):
    pass


class Reader:
    def __init__(self, data):
        self.data, self.pos = data, 0

    def take(self, n):
        if self.pos + n > len(self.data):
            raise CqlError("truncated frame body")
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out

    def byte(self):
        return self.take(1)[0]

    def short(self):
        return struct.unpack(">H", self.take(2))[0]

    def int(self):
        return struct.unpack(">i", self.take(4))[0]

    def string(self):
        return self.take(self.short()).decode("utf-8")

    def string_list(self):
        return [self.string() for _ in range(self.short())]

    def bytes(self):
        n = self.int()
        return None if n < 0 else self.take(n)

    def string_multimap(self):
        return {self.string(): self.string_list() for _ in range(self.short())}

    def option(self):
        kind = self.short()
        if kind == 0x0000:
            return ("custom", self.string())
        if kind in (0x0020, 0x0022):
            return ("list" if kind == 0x0020 else "set", self.option())
        if kind == 0x0021:
            return ("map", self.option(), self.option())
        if kind == 0x0030:
            ks, name = self.string(), self.string()
            fields = [(self.string(), self.option()) for _ in range(self.short())]
            return ("udt", ks, name, fields)
        if kind == 0x0031:
            return ("tuple", [self.option() for _ in range(self.short())])
        return (kind,)


def decode(typ, raw):
    if raw is None:
        return None
    kind = typ[0]
    if kind in (0x0001, 0x000D):
        return raw.decode("utf-8")
    if kind in (0x0002, 0x0005, 0x0012):  # bigint, counter, time (ns)
        return struct.unpack(">q", raw)[0]
    if kind == 0x0009:
        return struct.unpack(">i", raw)[0]
    if kind == 0x0013:
        return struct.unpack(">h", raw)[0]
    if kind == 0x0014:
        return struct.unpack(">b", raw)[0]
    if kind == 0x0004:
        return raw != b"\x00"
    if kind == 0x0007:
        return struct.unpack(">d", raw)[0]
    if kind == 0x0008:
        return struct.unpack(">f", raw)[0]
    if kind in (0x000C, 0x000F):
        return uuid.UUID(bytes=raw)
    if kind == 0x0010:
        return ipaddress.ip_address(raw)
    if kind == 0x000B:
        ms = struct.unpack(">q", raw)[0]
        return datetime(1970, 1, 1, tzinfo=timezone.utc) + timedelta(milliseconds=ms)
    if kind == 0x000E:
        return int.from_bytes(raw, "big", signed=True)
    if kind == 0x0006:
        scale = struct.unpack(">i", raw[:4])[0]
        return Decimal(int.from_bytes(raw[4:], "big", signed=True)).scaleb(-scale)
    if kind == 0x0011:
        days = struct.unpack(">I", raw)[0] - 2 ** 31
        return (datetime(1970, 1, 1) + timedelta(days=days)).date()
    if kind in ("list", "set"):
        r = Reader(raw)
        items = [decode(typ[1], r.bytes()) for _ in range(r.int())]
        return items if kind == "list" else set(items) if all(
            isinstance(i, (str, int, float, bool, uuid.UUID)) for i in items) else items
    if kind == "map":
        r = Reader(raw)
        return {decode(typ[1], r.bytes()): decode(typ[2], r.bytes()) for _ in range(r.int())}
    if kind == "tuple":
        r = Reader(raw)
        return tuple(decode(t, r.bytes()) for t in typ[1])
    if kind == "udt":
        r, out = Reader(raw), {}
        for name, t in typ[3]:
            if r.pos >= len(raw):
                break
            out[name] = decode(t, r.bytes())
        return out
    return "0x" + raw.hex()  # blob, duration, custom, vectors...


class Connection:
    def __init__(self, host, port=9042, timeout=5.0):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.settimeout(timeout)
        self.stream = 0

    def close(self):
        self.sock.close()

    def _recv_exact(self, n):
        buf = bytearray()
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise CqlError("connection closed by the server")
            buf += chunk
        return bytes(buf)

    def request(self, opcode, body=b""):
        self.stream = (self.stream + 1) % 32768
        self.sock.sendall(struct.pack(">BBhBi", VERSION, 0, self.stream, opcode, len(body)) + body)
        while True:
            version, flags, stream, op, length = struct.unpack(">BBhBi", self._recv_exact(9))
            body = self._recv_exact(length)
            if version & 0x7F != VERSION:
                raise CqlError("server answered with protocol version %d" % (version & 0x7F))
            if stream != self.stream:
                continue  # events (stream -1) or stale answers
            r = Reader(body)
            if flags & 0x02:
                r.take(16)  # tracing id
            warnings = r.string_list() if flags & 0x08 else []
            if flags & 0x04:
                for _ in range(r.short()):
                    r.string()
                    r.bytes()
            for w in warnings:
                print("warning: " + w, file=sys.stderr)
            if op == OP_ERROR:
                code = r.int()
                raise CqlError("server error 0x%04x: %s" % (code, r.string()))
            return op, r

    def handshake(self):
        op, r = self.request(OP_OPTIONS)
        if op != OP_SUPPORTED:
            raise CqlError("OPTIONS answered with opcode 0x%02x, not SUPPORTED" % op)
        supported = r.string_multimap()
        cql_version = (supported.get("CQL_VERSION") or ["3.0.0"])[0]
        body = struct.pack(">H", 1) + enc_string("CQL_VERSION") + enc_string(cql_version)
        op, _ = self.request(OP_STARTUP, body)
        if op == OP_AUTHENTICATE:
            raise CqlError("server wants authentication (expected AllowAllAuthenticator)")
        if op != OP_READY:
            raise CqlError("STARTUP answered with opcode 0x%02x, not READY" % op)
        return supported

    def wait_schema_agreement(self, timeout=30.0):
        """As drivers do after DDL: wait until the peers that this node sees
        up report its schema version, so that the next statement finds the
        new keyspace or table on every replica."""
        import time
        deadline = time.time() + timeout
        while True:
            _, local = self.query("SELECT schema_version FROM system.local")
            _, peers = self.query("SELECT peer, schema_version FROM system.peers")
            versions = {local[0][0]} | {v for _, v in peers if v is not None}
            if len(versions) == 1:
                return
            if time.time() > deadline:
                print("warning: no schema agreement after %.0fs" % timeout, file=sys.stderr)
                return
            time.sleep(0.2)

    def query(self, cql, consistency="ONE"):
        body = enc_long_string(cql) + struct.pack(">HB", CONSISTENCY[consistency], 0)
        op, r = self.request(OP_QUERY, body)
        if op != OP_RESULT:
            raise CqlError("QUERY answered with opcode 0x%02x" % op)
        kind = r.int()
        if kind == 0x0001:
            return None, []
        if kind == 0x0003:
            return ["keyspace"], [[r.string()]]
        if kind == 0x0005:
            change, target = r.string(), r.string()
            names = [r.string()]
            if target != "KEYSPACE":
                names.append(r.string())
            self.wait_schema_agreement()
            return ["schema_change"], [[" ".join([change, target, ".".join(names)])]]
        if kind != 0x0002:
            return None, []
        flags, ncols = r.int(), r.int()
        if flags & 0x0002:
            r.bytes()  # paging state
        global_spec = bool(flags & 0x0001)
        if global_spec:
            r.string(), r.string()
        names, types = [], []
        for _ in range(ncols):
            if not global_spec:
                r.string(), r.string()
            names.append(r.string())
            types.append(r.option())
        rows = []
        for _ in range(r.int()):
            rows.append([decode(types[i], r.bytes()) for i in range(ncols)])
        return names, rows


def enc_string(s):
    b = s.encode("utf-8")
    return struct.pack(">H", len(b)) + b


def enc_long_string(s):
    b = s.encode("utf-8")
    return struct.pack(">i", len(b)) + b


def split_statements(text):
    """Split on ';' outside quotes, identifiers, $$-blocks and comments."""
    out, cur, i, n = [], [], 0, len(text)
    while i < n:
        c = text[i]
        if c in "'\"":
            j = i + 1
            while j < n:
                if text[j] == c:
                    if j + 1 < n and text[j + 1] == c:
                        j += 2
                        continue
                    break
                j += 1
            cur.append(text[i:j + 1])
            i = j + 1
        elif text.startswith("$$", i):
            j = text.find("$$", i + 2)
            j = n if j < 0 else j + 2
            cur.append(text[i:j])
            i = j
        elif text.startswith("--", i) or text.startswith("//", i):
            j = text.find("\n", i)
            i = n if j < 0 else j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            i = n if j < 0 else j + 2
        elif c == ";":
            out.append("".join(cur))
            cur = []
            i += 1
        else:
            cur.append(c)
            i += 1
    out.append("".join(cur))
    return [s.strip() for s in out if s.strip()]


def fmt(v):
    if v is None:
        return "null"
    if isinstance(v, datetime):
        return v.isoformat()
    return str(v)


def wait_schema_agreement(conns, timeout=30.0):
    """Like the drivers do after DDL: until every node has the same schema."""
    import time
    deadline = time.time() + timeout
    while True:
        versions = set()
        for c in conns:
            _, rows = c.query("SELECT schema_version FROM system.local")
            versions.add(rows[0][0])
        if len(versions) == 1:
            return
        if time.time() > deadline:
            raise CqlError("no schema agreement after %.0fs: %s" % (timeout, versions))
        time.sleep(0.2)


def smoke(hosts, port):
    import time
    conns = []
    for h in hosts:
        c = Connection(h, port, 30.0)
        c.handshake()
        conns.append(c)
    for h, c in zip(hosts, conns):
        _, rows = c.query("SELECT peer FROM system.peers")
        peers = sorted(str(r[0]) for r in rows)
        want = sorted(x for x in hosts if x != h)
        if peers != want:
            raise CqlError("%s sees peers %s, expected %s" % (h, peers, want))
    print("ring: every node sees the %d other(s)" % (len(hosts) - 1))
    rf = min(3, len(hosts))
    ks = "ops_smoke_%d" % int(time.time())
    c = conns[0]
    c.query("CREATE KEYSPACE %s WITH replication = {'class': 'SimpleStrategy', "
            "'replication_factor': %d}" % (ks, rf))
    try:
        wait_schema_agreement(conns)
        c.query("CREATE TABLE %s.handles (handle text PRIMARY KEY, owner uuid, made timestamp)" % ks)
        wait_schema_agreement(conns)
        print("schema: keyspace and table agreed on by every node")
        owner = uuid.uuid4()
        ins = ("INSERT INTO %s.handles (handle, owner, made) VALUES ('ada', %s, toTimestamp(now())) "
               "IF NOT EXISTS")
        _, first = c.query(ins % (ks, owner), "QUORUM")
        _, second = conns[-1].query(ins % (ks, uuid.uuid4()), "QUORUM")
        if first[0][0] is not True or second[0][0] is not False:
            raise CqlError("LWT: first applied=%s, second applied=%s" % (first[0][0], second[0][0]))
        print("lwt: INSERT IF NOT EXISTS applied once, refused the second time (RF %d, QUORUM)" % rf)
        for h, cc in zip(hosts, conns):
            _, rows = cc.query("SELECT owner FROM %s.handles WHERE handle = 'ada'" % ks, "QUORUM")
            if not rows or rows[0][0] != owner:
                raise CqlError("%s read back %s, expected owner %s" % (h, rows, owner))
        print("read: every node reads the row back at QUORUM")
    finally:
        c.query("DROP KEYSPACE IF EXISTS %s" % ks)
        for cc in conns:
            cc.close()
    print("smoke: ok")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("probe")
    p.add_argument("host")
    p.add_argument("--port", type=int, default=9042)
    p.add_argument("--timeout", type=float, default=2.0)
    sm = sub.add_parser("smoke")
    sm.add_argument("hosts", nargs="+")
    sm.add_argument("--port", type=int, default=9042)
    q = sub.add_parser("query")
    q.add_argument("host")
    q.add_argument("--port", type=int, default=9042)
    q.add_argument("--timeout", type=float, default=30.0)
    q.add_argument("--consistency", default="ONE", choices=sorted(CONSISTENCY))
    q.add_argument("-k", "--keyspace")
    q.add_argument("statements", nargs="+")
    args = ap.parse_args()

    if args.cmd == "smoke":
        try:
            smoke(args.hosts, args.port)
            return 0
        except (CqlError, OSError) as e:
            print("smoke: FAILED: %s" % e, file=sys.stderr)
            return 1
    try:
        conn = Connection(args.host, args.port, args.timeout)
    except OSError as e:
        print("cannot connect to %s:%d: %s" % (args.host, args.port, e), file=sys.stderr)
        return 1
    try:
        conn.handshake()
        if args.cmd == "probe":
            _, rows = conn.query("SELECT release_version FROM system.local")
            print(rows[0][0] if rows else "unknown")
            return 0
        if args.keyspace:
            conn.query('USE "%s"' % args.keyspace)
        for arg in args.statements:
            for stmt in split_statements(arg):
                names, rows = conn.query(stmt, args.consistency)
                if names is None:
                    continue
                print(" | ".join(names))
                for row in rows:
                    print(" | ".join(fmt(v) for v in row))
        return 0
    except (CqlError, OSError) as e:
        print("%s:%d: %s" % (args.host, args.port, e), file=sys.stderr)
        return 1
    finally:
        conn.close()


if __name__ == "__main__":
    sys.exit(main())
