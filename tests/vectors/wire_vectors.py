#!/usr/bin/env python3
"""Golden vectors for three wire formats of docs/PROTOCOL.md:

  mux_frames.txt          "Streams (mux v2)", every frame type
  netstack_messages.txt   "netstackd protocol", every op, reply and notice
  ipc_rpc_messages.txt    "Local API: remote calls", every op, reply, error
                          reply and the event

The bytes are written here from the tables of docs/PROTOCOL.md with
struct.pack, independently of the C encoders, so the unit tests that read
these files (tests/unit/test_mux_frame.c, test_netstack_codec.c,
test_ipc_rpc.c) check the C code against the documentation, in both
directions: decode(bytes) gives the fields, encode(fields) gives the bytes.

File format (one vector per block, '#' starts a comment line):
  vector: <name>           starts a vector
  <field>: <value>         integers in decimal or 0x-hex, addresses as text,
                           strings as text (to the end of the line), byte
                           strings as <field>_hex
  bytes: <hex>             the whole message; spaces separate the fields and
                           are ignored by the readers
A repeated field (a list entry) keeps its order.

Usage: python3 tests/vectors/wire_vectors.py          rewrite the three files
       python3 tests/vectors/wire_vectors.py --check  exit 1 if one differs
"""
import ipaddress
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def u8(v):
    return struct.pack(">B", v)


def u16(v):
    return struct.pack(">H", v)


def u32(v):
    return struct.pack(">I", v)


def i32(v):
    return struct.pack(">i", v)


def u64(v):
    return struct.pack(">Q", v)


def flat(parts):
    """The non-empty byte strings of a nested list, in order: one group of
    hex digits per field in the bytes line."""
    for p in parts:
        if isinstance(p, list):
            yield from flat(p)
        elif p:
            yield p


class Out:
    """Collects vectors as text."""

    def __init__(self, header):
        self.lines = [f"# {h}" if h else "#" for h in header]

    def comment(self, text):
        self.lines += ["", f"# {text}"]

    def vector(self, name, fields, parts):
        if self.lines[-1].startswith("bytes:"):
            self.lines.append("")
        self.lines.append(f"vector: {name}")
        for key, value in fields:
            self.lines.append(f"{key}: {value}".rstrip())
        self.lines.append("bytes: " + " ".join(p.hex() for p in flat(parts)))

    def text(self):
        return "\n".join(self.lines) + "\n"


# ---- mux v2 frames (docs/PROTOCOL.md, "Streams (mux v2)") -----------------

MUX_VERSION = 0x02
MUX_OPEN, MUX_OPEN_ACK, MUX_DATA, MUX_WINDOW_UPDATE = 1, 2, 3, 4
MUX_RST, MUX_PING, MUX_PONG, MUX_CLOSE = 5, 6, 7, 8
MUX_FIN_MESSAGE = 0x01


def mux_header(ftype, flags, stream_id, payload):
    # version u8, type u8, flags u8, stream_id u32, length u16
    return [u8(MUX_VERSION), u8(ftype), u8(flags), u32(stream_id),
            u16(len(payload))]


def mux_frames():
    o = Out([
        "mux v2 frames (docs/PROTOCOL.md, \"Streams (mux v2)\"), one per",
        "vector. Written by tests/vectors/wire_vectors.py from the tables of",
        "docs/PROTOCOL.md; read by tests/unit/test_mux_frame.c, which checks",
        "decode(bytes) == fields and encode(fields) == bytes.",
        "",
        "Header fields: version(02) type flags stream_id(u32) length(u16),",
        "then the payload of the type.",
    ])

    def frame(name, ftype, stream_id, fields, payload_parts, flags=0):
        payload = b"".join(payload_parts)
        o.vector(name,
                 [("type", f"0x{ftype:02x}"), ("flags", f"0x{flags:02x}"),
                  ("stream_id", stream_id)] + fields,
                 mux_header(ftype, flags, stream_id, payload) + payload_parts)

    def open_(name, sid, prio, mode, window, max_msg, sname):
        n = sname.encode()
        frame(name, MUX_OPEN, sid,
              [("priority", prio), ("mode", mode), ("window", window),
               ("max_message", max_msg), ("name", sname)],
              [u8(prio), u8(mode), u32(window), u32(max_msg), u8(len(n)), n])

    o.comment("OPEN: header | priority mode window(u32) max_message(u32) "
              "namelen name (the example of docs/PROTOCOL.md)")
    open_("open_bytes_mode", 5, 3, 1, 262144, 65536, "rpc")
    o.comment("OPEN: message mode, lowest priority, window at its minimum "
              "and max_message at its maximum")
    open_("open_message_mode", 2, 7, 0, 1024, 0x7FFFFFFF, "dsb.rpc")
    o.comment("OPEN: a 64-byte name using every allowed character class")
    open_("open_name_64", 0xFFFFFFFF, 0, 0, 0x7FFFFFFF, 262144,
          ("echo/1f" + "A-z_0.9/:@+" * 6)[:64])

    def open_ack(name, sid, window, max_msg):
        frame(name, MUX_OPEN_ACK, sid,
              [("window", window), ("max_message", max_msg)],
              [u32(window), u32(max_msg)])

    o.comment("OPEN_ACK: header | window(u32) max_message(u32)")
    open_ack("open_ack", 6, 262144, 262144)
    open_ack("open_ack_limits", 1, 1024, 0x7FFFFFFF)

    o.comment("DATA: header | data; FIN_MESSAGE (flags 0x01) on the last "
              "frame of a message (the example of docs/PROTOCOL.md)")
    frame("data_fin_message", MUX_DATA, 257, [("data_hex", b"abc".hex())],
          [b"abc"], flags=MUX_FIN_MESSAGE)
    o.comment("DATA: a frame in the middle of a message (no flag)")
    data = bytes(range(16))
    frame("data_more", MUX_DATA, 3, [("data_hex", data.hex())], [data])

    o.comment("WINDOW_UPDATE: header | increment(u32); stream 0 is the "
              "session window")
    frame("window_update_session", MUX_WINDOW_UPDATE, 0,
          [("increment", 0x7C0000)], [u32(0x7C0000)])
    frame("window_update_stream", MUX_WINDOW_UPDATE, 5,
          [("increment", 0x7FFFFFFF)], [u32(0x7FFFFFFF)])

    o.comment("RST: header | code(u32); 1 refused, 3 invalid name, "
              "0x100.. application")
    for name, sid, code in (("rst_refused", 4, 1), ("rst_invalid_name", 8, 3),
                            ("rst_application", 7, 0x100)):
        frame(name, MUX_RST, sid, [("code", f"0x{code:x}")], [u32(code)])

    o.comment("PING / PONG: header (stream 0) | opaque(u64)")
    frame("ping", MUX_PING, 0, [("opaque", 42)], [u64(42)])
    frame("pong", MUX_PONG, 0, [("opaque", "0xffffffffffffffff")],
          [u64(0xFFFFFFFFFFFFFFFF)])

    o.comment("CLOSE: header only")
    frame("close", MUX_CLOSE, 9, [], [])
    return o.text()


# ---- netstackd protocol (docs/PROTOCOL.md, "netstackd protocol") ----------

NS_HELLO, NS_TCP_LISTEN, NS_TCP_CONNECT, NS_UDP_BIND = 1, 2, 4, 5
NS_LOCAL_ADDR, NS_IFLIST, NS_CLOSE, NS_NOTICE = 6, 7, 8, 0xFF
NS_REPLY = 0x80


def ns_addr(text):
    """addr = family u8 (4|6), ip 4 | ip 16, scope_id u32be (IPv6 only)."""
    ip, _, scope = text.partition("%")
    a = ipaddress.ip_address(ip)
    if a.version == 4:
        return [u8(4), a.packed]
    return [u8(6), a.packed, u32(int(scope or 0))]


def ns_addrp(text):
    """addrp = addr, port u16be; text "1.2.3.4:80" or "[::1%3]:80"."""
    host, _, port = text.rpartition(":")
    return ns_addr(host.strip("[]")) + [u16(int(port))]


def ns_ifname(name):
    n = name.encode()
    return [u8(len(n)), n]


def netstack_messages():
    o = Out([
        "netstackd protocol messages (docs/PROTOCOL.md, \"netstackd",
        "protocol\"), one SOCK_SEQPACKET packet per vector. Written by",
        "tests/vectors/wire_vectors.py from the tables of docs/PROTOCOL.md;",
        "read by tests/unit/test_netstack_codec.c, which checks",
        "decode(bytes) == fields and encode(fields) == bytes.",
        "",
        "request: op payload nonce(u64) | reply: op|0x80 status payload(if",
        "status 0) nonce | notice: ff status nonce. Addresses: addr = family",
        "ip [scope_id(u32), IPv6]; addrp = addr port(u16); ifname = len bytes.",
        "kind: request, reply (op without the reply bit) or notice.",
    ])

    def req(name, op, nonce, fields, parts):
        o.vector(name, [("kind", "request"), ("op", f"0x{op:02x}"),
                        ("nonce", f"0x{nonce:x}")] + fields,
                 [u8(op)] + parts + [u64(nonce)])

    def rep(name, op, status, nonce, fields, parts):
        o.vector(name, [("kind", "reply"), ("op", f"0x{op:02x}"),
                        ("status", status), ("nonce", f"0x{nonce:x}")]
                 + fields, [u8(op | NS_REPLY), u8(status)] + parts
                 + [u64(nonce)])

    o.comment("HELLO request: version(u8)")
    req("hello_request", NS_HELLO, 1, [("version", 1)], [u8(1)])
    o.comment("TCP_LISTEN request: local addrp, backlog(u16) (the example "
              "of docs/PROTOCOL.md)")
    req("tcp_listen_ipv4", NS_TCP_LISTEN, 0x0102030405060708,
        [("local", "127.0.0.1:8080"), ("backlog", 128)],
        [ns_addrp("127.0.0.1:8080"), u16(128)])
    req("tcp_listen_ipv6", NS_TCP_LISTEN, 2,
        [("local", "[::1]:0"), ("backlog", 4096)],
        [ns_addrp("[::1]:0"), u16(4096)])
    o.comment("TCP_CONNECT request: remote addrp, timeout_ms(u32)")
    req("tcp_connect_ipv4", NS_TCP_CONNECT, 3,
        [("remote", "127.0.0.1:47001"), ("timeout_ms", 120000)],
        [ns_addrp("127.0.0.1:47001"), u32(120000)])
    req("tcp_connect_ipv6_scoped", NS_TCP_CONNECT, 0xFFFFFFFFFFFFFFFF,
        [("remote", "[fe80::1%3]:443"), ("timeout_ms", 5000)],
        [ns_addrp("[fe80::1%3]:443"), u32(5000)])
    o.comment("UDP_BIND request: local addrp, flags(u8), mcast_ttl(u8), "
              "ngroups(u8), ngroups x (ifname, group addr)")
    req("udp_bind_one_group", NS_UDP_BIND, 7,
        [("local", "0.0.0.0:5683"), ("flags", "0x05"), ("mcast_ttl", 1),
         ("group_ifname", "lo"), ("group", "239.255.0.1")],
        [ns_addrp("0.0.0.0:5683"), u8(0x05), u8(1), u8(1), ns_ifname("lo"),
         ns_addr("239.255.0.1")])
    req("udp_bind_ipv6_two_groups", NS_UDP_BIND, 8,
        [("local", "[::]:5353"), ("flags", "0x07"), ("mcast_ttl", 0),
         ("group_ifname", "lo"), ("group", "ff02::fb%1"),
         ("group_ifname", "enp0s31f6.100"), ("group", "ff05::1:3")],
        [ns_addrp("[::]:5353"), u8(0x07), u8(0), u8(2), ns_ifname("lo"),
         ns_addr("ff02::fb%1"), ns_ifname("enp0s31f6.100"),
         ns_addr("ff05::1:3")])
    req("udp_bind_no_groups", NS_UDP_BIND, 9,
        [("local", "127.0.0.1:0"), ("flags", "0x00"), ("mcast_ttl", 0)],
        [ns_addrp("127.0.0.1:0"), u8(0), u8(0), u8(0)])
    o.comment("LOCAL_ADDR request: remote addr (no port)")
    req("local_addr_ipv4", NS_LOCAL_ADDR, 10, [("remote", "10.0.0.1")],
        [ns_addr("10.0.0.1")])
    req("local_addr_ipv6", NS_LOCAL_ADDR, 11, [("remote", "2001:db8::1")],
        [ns_addr("2001:db8::1")])
    o.comment("IFLIST request: empty payload")
    req("iflist_request", NS_IFLIST, 12, [], [])
    o.comment("CLOSE request: target nonce(u64)")
    req("close_request", NS_CLOSE, 13, [("target", 4)], [u64(4)])

    o.comment("HELLO reply: status 0, version(u8)")
    rep("hello_reply", NS_HELLO, 0, 1, [("version", 1)], [u8(1)])
    o.comment("TCP_LISTEN / TCP_CONNECT / UDP_BIND replies: status 0, "
              "local addrp (the socket travels in SCM_RIGHTS)")
    rep("tcp_listen_reply", NS_TCP_LISTEN, 0, 0x0102030405060708,
        [("local", "127.0.0.1:8080")], [ns_addrp("127.0.0.1:8080")])
    rep("tcp_connect_reply", NS_TCP_CONNECT, 0, 3,
        [("local", "127.0.0.1:40000")], [ns_addrp("127.0.0.1:40000")])
    rep("udp_bind_reply_ipv6", NS_UDP_BIND, 0, 8,
        [("local", "[::]:5353")], [ns_addrp("[::]:5353")])
    o.comment("LOCAL_ADDR reply: status 0, local addr (no port)")
    rep("local_addr_reply", NS_LOCAL_ADDR, 0, 10, [("local", "10.0.0.2")],
        [ns_addr("10.0.0.2")])
    o.comment("IFLIST reply: status 0, count(u8), count x (ifname, "
              "index(u32), flags(u8), naddrs(u8), naddrs x (addr, "
              "prefix(u8)))")
    rep("iflist_reply", NS_IFLIST, 0, 12,
        [("iface_name", "lo"), ("iface_index", 1), ("iface_flags", "0x03"),
         ("iface_addr", "127.0.0.1/8"), ("iface_addr", "::1/128"),
         ("iface_name", "eth0"), ("iface_index", 2), ("iface_flags", "0x05"),
         ("iface_addr", "192.168.1.10/24"), ("iface_addr", "fe80::1%2/64")],
        [u8(2),
         ns_ifname("lo"), u32(1), u8(0x03), u8(2),
         ns_addr("127.0.0.1"), u8(8), ns_addr("::1"), u8(128),
         ns_ifname("eth0"), u32(2), u8(0x05), u8(2),
         ns_addr("192.168.1.10"), u8(24), ns_addr("fe80::1%2"), u8(64)])
    rep("iflist_reply_empty", NS_IFLIST, 0, 14, [], [u8(0)])
    o.comment("CLOSE reply: status 0, empty payload")
    rep("close_reply", NS_CLOSE, 0, 13, [], [])

    o.comment("Error replies: op|0x80, a non-zero status and no payload")
    rep("tcp_connect_refused", NS_TCP_CONNECT, 13, 5, [], [])
    rep("tcp_listen_port_not_allowed", NS_TCP_LISTEN, 6, 2, [], [])
    rep("udp_bind_interface_not_allowed", NS_UDP_BIND, 7, 7, [], [])
    rep("iflist_before_hello", NS_IFLIST, 4, 12, [], [])
    rep("close_unknown_handle", NS_CLOSE, 10, 13, [], [])
    rep("hello_unsupported_version", NS_HELLO, 3, 1, [], [])

    o.comment("Notices: ff status(u8, never 0) nonce; nonce 0 is "
              "unsolicited")
    for name, status, nonce in (("notice_busy", 20, 0),
                                ("notice_peer_credentials", 19, 0),
                                ("notice_unknown_op", 2, 0x1234)):
        o.vector(name, [("kind", "notice"), ("status", status),
                        ("nonce", f"0x{nonce:x}")],
                 [u8(NS_NOTICE), u8(status), u64(nonce)])
    return o.text()


# ---- Local API remote calls (docs/PROTOCOL.md, "Local API: remote calls") -

RPC_SERVICE_ADD, RPC_SERVICE_REMOVE, RPC_BUNDLE_ADD = 0x20, 0x21, 0x22
RPC_CALL, RPC_ANSWER, RPC_POLICY_CHECK = 0x23, 0x24, 0x25
RPC_EV_CALL = 0x60
IPC_REPLY = 0x80
DEVICE_ID = bytes(range(0xA0, 0xB0))
ERR_IPC_BAD_STRING = -709  # ipc.reject.bad_string (include/dsb/err.h)
ERR_IPC_NO_PEER = -713  # ipc.no_such_device
ERR_PROXY_STALE_REPLY = -807  # proxy.reject.stale_reply
ERR_PROXY_DENIED = -800  # proxy.reject.denied


def str8(s):
    b = s.encode()
    return [u8(len(b)), b]


def str16(s):
    b = s.encode()
    return [u16(len(b)), b]


def blob(b):
    return [u32(len(b)), b]


def ipc_rpc_messages():
    o = Out([
        "Local API remote-call messages (docs/PROTOCOL.md, \"Local API:",
        "remote calls\"), one SOCK_SEQPACKET packet per vector. Written by",
        "tests/vectors/wire_vectors.py from the tables of docs/PROTOCOL.md;",
        "read by tests/unit/test_ipc_rpc.c, which checks decode(bytes) ==",
        "fields and encode(fields) == bytes.",
        "",
        "request: op payload nonce(u64) | reply: op|0x80 status(i32)",
        "payload(if status 0) nonce | event: op payload sequence(u64).",
        "str8 = len(u8) bytes, str16 = len(u16) bytes, blob = len(u32) bytes,",
        "id = 16 bytes. op is the byte on the wire; status the i32 of a reply.",
    ])

    def msg(name, op, nonce, fields, parts, status=None):
        head = [("op", f"0x{op:02x}")]
        wire = [u8(op)]
        if status is not None:
            head.append(("status", status))
            wire.append(i32(status))
        o.vector(name, head + [("nonce", f"0x{nonce:x}")] + fields,
                 wire + parts + [u64(nonce)])

    o.comment("rpc_service_add: name str8, description str8")
    msg("rpc_service_add", RPC_SERVICE_ADD, 1,
        [("name", "echo"), ("description", "returns its payload")],
        [str8("echo"), str8("returns its payload")])
    msg("rpc_service_add_no_description", RPC_SERVICE_ADD, 2,
        [("name", "kv"), ("description", "")], [str8("kv"), str8("")])
    o.comment("rpc_service_remove: name str8")
    msg("rpc_service_remove", RPC_SERVICE_REMOVE, 3, [("name", "echo")],
        [str8("echo")])
    o.comment("rpc_bundle_add: name str8, version str8, count u8, count x "
              "(name str8, description str8)")
    msg("rpc_bundle_add", RPC_BUNDLE_ADD, 4,
        [("name", "demo"), ("version", "1.0.2+b1"),
         ("service_name", "kv"), ("service_description", "key-value store"),
         ("service_name", "clock"), ("service_description", "")],
        [str8("demo"), str8("1.0.2+b1"), u8(2), str8("kv"),
         str8("key-value store"), str8("clock"), str8("")])
    msg("rpc_bundle_add_no_services", RPC_BUNDLE_ADD, 5,
        [("name", "demo"), ("version", "2")],
        [str8("demo"), str8("2"), u8(0)])
    o.comment("rpc_call: id, timeout_ms u32, service str8, method str8, "
              "payload blob")
    msg("rpc_call", RPC_CALL, 0x0102030405060708,
        [("id_hex", DEVICE_ID.hex()), ("timeout_ms", 1500),
         ("service", "samgr"), ("method", "resolve"),
         ("payload_hex", b"echo".hex())],
        [DEVICE_ID, u32(1500), str8("samgr"), str8("resolve"), blob(b"echo")])
    msg("rpc_call_default_timeout", RPC_CALL, 6,
        [("id_hex", DEVICE_ID.hex()), ("timeout_ms", 0),
         ("service", "echo"), ("method", "echo"), ("payload_hex", "")],
        [DEVICE_ID, u32(0), str8("echo"), str8("echo"), blob(b"")])
    o.comment("rpc_answer: call u64, rpc_status u8, payload blob")
    msg("rpc_answer", RPC_ANSWER, 7,
        [("call", "0xfeed"), ("rpc_status", 0), ("payload_hex", b"hi".hex())],
        [u64(0xFEED), u8(0), blob(b"hi")])
    msg("rpc_answer_failed", RPC_ANSWER, 8,
        [("call", "0xffffffffffffffff"), ("rpc_status", 9),
         ("payload_hex", "")],
        [u64(0xFFFFFFFFFFFFFFFF), u8(9), blob(b"")])
    o.comment("rpc_policy_check: id, service str8, method str8")
    msg("rpc_policy_check", RPC_POLICY_CHECK, 9,
        [("id_hex", DEVICE_ID.hex()), ("service", "echo"),
         ("method", "echo")],
        [DEVICE_ID, str8("echo"), str8("echo")])

    o.comment("Replies with status 0 (i32): rpc_service_add, "
              "rpc_service_remove, rpc_bundle_add and rpc_answer carry no "
              "payload")
    msg("rpc_service_add_reply", RPC_SERVICE_ADD | IPC_REPLY, 1, [], [],
        status=0)
    msg("rpc_service_remove_reply", RPC_SERVICE_REMOVE | IPC_REPLY, 3, [], [],
        status=0)
    msg("rpc_bundle_add_reply", RPC_BUNDLE_ADD | IPC_REPLY, 4, [], [],
        status=0)
    msg("rpc_answer_reply", RPC_ANSWER | IPC_REPLY, 7, [], [], status=0)
    o.comment("rpc_call reply, status 0: rpc_status u8, payload blob")
    msg("rpc_call_reply", RPC_CALL | IPC_REPLY, 0x0102030405060708,
        [("rpc_status", 0), ("payload_hex", b"ok".hex())],
        [u8(0), blob(b"ok")], status=0)
    msg("rpc_call_reply_denied", RPC_CALL | IPC_REPLY, 6,
        [("rpc_status", 1), ("payload_hex", "")], [u8(1), blob(b"")],
        status=0)
    o.comment("rpc_policy_check reply, status 0: rule i32 (-1: denied), "
              "explanation str16")
    msg("rpc_policy_check_reply", RPC_POLICY_CHECK | IPC_REPLY, 9,
        [("rule", 2), ("explanation", "rule 2: allow trusted * echo.*")],
        [i32(2), str16("rule 2: allow trusted * echo.*")], status=0)
    msg("rpc_policy_check_reply_denied", RPC_POLICY_CHECK | IPC_REPLY, 10,
        [("rule", -1), ("explanation", "no rule matches: denied")],
        [i32(-1), str16("no rule matches: denied")], status=0)

    o.comment("Error replies: the request's own reply op, a negative status "
              "(DSB_ERR_*), no payload")
    msg("rpc_call_error", RPC_CALL | IPC_REPLY, 0x0102030405060708, [], [],
        status=ERR_IPC_NO_PEER)
    msg("rpc_service_add_error", RPC_SERVICE_ADD | IPC_REPLY, 2, [], [],
        status=ERR_IPC_BAD_STRING)
    msg("rpc_service_remove_error", RPC_SERVICE_REMOVE | IPC_REPLY, 3, [], [],
        status=ERR_IPC_BAD_STRING)
    msg("rpc_bundle_add_error", RPC_BUNDLE_ADD | IPC_REPLY, 4, [], [],
        status=ERR_IPC_BAD_STRING)
    msg("rpc_answer_error", RPC_ANSWER | IPC_REPLY, 8, [], [],
        status=ERR_PROXY_STALE_REPLY)
    msg("rpc_policy_check_error", RPC_POLICY_CHECK | IPC_REPLY, 9, [], [],
        status=ERR_IPC_NO_PEER)

    o.comment("Event rpc_incoming_call: call u64, id, peer_flags u8, "
              "service str8, method str8, payload blob, then the sequence")
    msg("rpc_incoming_call", RPC_EV_CALL, 99,
        [("call", "0xfeed"), ("id_hex", DEVICE_ID.hex()), ("peer_flags", 1),
         ("service", "kv"), ("method", "get"), ("payload_hex", b"k1".hex())],
        [u64(0xFEED), DEVICE_ID, u8(1), str8("kv"), str8("get"),
         blob(b"k1")])
    return o.text()


FILES = {
    "mux_frames.txt": mux_frames,
    "netstack_messages.txt": netstack_messages,
    "ipc_rpc_messages.txt": ipc_rpc_messages,
}


def main():
    check = sys.argv[1:] == ["--check"]
    differ = 0
    for name, gen in FILES.items():
        path = os.path.join(HERE, name)
        text = gen()
        if check:
            with open(path, encoding="ascii") as f:
                if f.read() != text:
                    print(f"{name}: differs from the generator",
                          file=sys.stderr)
                    differ = 1
        else:
            with open(path, "w", encoding="ascii") as f:
                f.write(text)
    return differ


if __name__ == "__main__":
    sys.exit(main())
