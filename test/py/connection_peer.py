"""The Python side of test_connection's interop cases.

    connection_peer.py server FAMILY KEY   Listener on a fresh address (FAMILY:
                                           inet or unix); prints the address,
                                           serves one client, exits.
    connection_peer.py client ADDRESS KEY  Client to ADDRESS ("host:port" or a
                                           path); runs the exchange, exits.

KEY is the authkey in hex, or "none". The exchange: the client sends each
message of MESSAGES, the server answers b"echo:" + message, the client
checks; b"bye" ends it. Exit status: 0 ok, 3 AuthenticationError, 4 wrong
reply.
"""
import sys
from multiprocessing import AuthenticationError
from multiprocessing.connection import Client, Listener

MESSAGES = [b"hello from python", b"", bytes(range(256)) * 300, b"x" * 70000]


def parse_address(text):
    if ":" in text and "/" not in text:
        host, port = text.rsplit(":", 1)
        return (host, int(port))
    return text


def serve(conn):
    while True:
        msg = conn.recv_bytes()
        if msg == b"bye":
            return 0
        conn.send_bytes(b"echo:" + msg)


def ask(conn):
    for msg in MESSAGES:
        conn.send_bytes(msg)
        if conn.recv_bytes() != b"echo:" + msg:
            return 4
    conn.send_bytes(b"bye")
    return 0


def main():
    mode, where, key = sys.argv[1], sys.argv[2], sys.argv[3]
    authkey = None if key == "none" else bytes.fromhex(key)
    try:
        if mode == "server":
            address = ("127.0.0.1", 0) if where == "inet" else None
            with Listener(address, family="AF_INET" if where == "inet" else "AF_UNIX",
                          authkey=authkey) as listener:
                addr = listener.address
                print(f"{addr[0]}:{addr[1]}" if isinstance(addr, tuple) else addr, flush=True)
                with listener.accept() as conn:
                    return serve(conn)
        with Client(parse_address(where), authkey=authkey) as conn:
            return ask(conn)
    except AuthenticationError as e:
        print(f"AuthenticationError: {e}", file=sys.stderr)
        return 3


if __name__ == "__main__":
    sys.exit(main())
