#!/usr/bin/python3
"""Seed corpus for fuzz_http2: HTTP/2 exchanges made by python3-h2 (a real
HTTP/2 implementation; nghttp2's own bytes are exercised by test_http2),
written as fuzz_http2 operations (raw events, 16-bit lengths). Run once;
the files are kept in tests/fuzz/corpus/http2/."""
import os
import struct
import sys

import h2.config
import h2.connection
import h2.events

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "http2")


def op_raw(direction, data, step=0):
    out = b""
    for i in range(0, len(data), 0xFFFF):
        part = data[i:i + 0xFFFF]
        out += bytes([direction | (0 << 1) | (step << 3)]) + struct.pack(">H", len(part)) + part
    return out


def exchange(name, streams=3, trailers=False, big_header=False, reset=False, goaway=False,
             push=False, pad=False, informational=False):
    client = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    server = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False))
    client.initiate_connection()
    tx = client.data_to_send()[24:]  # the fuzz target feeds the preface itself
    server.initiate_connection()
    server.receive_data(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + tx)
    ops = op_raw(0, tx)
    rx = server.data_to_send()
    ops += op_raw(1, rx)
    client.receive_data(rx)
    ops += op_raw(0, client.data_to_send())
    for i in range(streams):
        sid = client.get_next_available_stream_id()
        headers = [(":method", "GET" if i % 2 else "POST"), (":scheme", "https"),
                   (":authority", "api.example.com"), (":path", "/v1/items/%d?q=secret" % i),
                   ("user-agent", "seed/1"), ("x-trace", "%032x" % (i * 7919))]
        if big_header:
            headers.append(("cookie", "c" * 40000))
        client.send_headers(sid, headers, end_stream=(i % 2 == 1))
        if i % 2 == 0:
            client.send_data(sid, b"b" * 700, end_stream=True, pad_length=(10 if pad else None))
        data = client.data_to_send()
        ops += op_raw(0, data, step=1)
        for ev in server.receive_data(data):
            pass
        if reset and i == 1:
            server.reset_stream(sid)
        else:
            if informational:
                server.send_headers(sid, [(":status", "103"), ("link", "</a>; rel=preload")])
            if push and i == 0:
                pid = server.get_next_available_stream_id()
                server.push_stream(sid, pid, [(":method", "GET"), (":scheme", "https"),
                                              (":authority", "api.example.com"), (":path", "/pushed")])
            server.send_headers(sid, [(":status", "200"), ("content-type", "application/json")])
            server.send_data(sid, b"{}" * 500, end_stream=not trailers,
                             pad_length=(20 if pad else None))
            if trailers:
                server.send_headers(sid, [("grpc-status", "0")], end_stream=True)
        rx = server.data_to_send()
        ops += op_raw(1, rx, step=2)
        client.receive_data(rx)
        ops += op_raw(0, client.data_to_send())
    if goaway:
        server.close_connection(last_stream_id=1)
        ops += op_raw(1, server.data_to_send())
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(ops)


def main():
    os.makedirs(OUT, exist_ok=True)
    exchange("h2py-basic")
    exchange("h2py-many", streams=20)
    exchange("h2py-trailers", trailers=True)
    exchange("h2py-continuation", streams=1, big_header=True)
    exchange("h2py-reset", reset=True)
    exchange("h2py-goaway", goaway=True)
    exchange("h2py-push", push=True)
    exchange("h2py-padded", pad=True)
    exchange("h2py-103", informational=True)


if __name__ == "__main__":
    sys.exit(main())
