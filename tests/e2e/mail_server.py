#!/usr/bin/python3
"""A TLS server speaking just enough SMTP, IMAP, POP3 or FTP (implicit TLS,
as smtps://, imaps://, pop3s://, ftps:// in curl) for curl to run a session
against it: the traffic of client protocols that are not HTTP.

    mail_server.py smtp|imap|pop3|ftp CERT KEY LOGFILE [SIZE]

Listens on 127.0.0.1, on a free port, and prints "PORT <n>" on stdout once it
accepts connections. SIZE (default 1 MB): how many bytes a download (IMAP
FETCH, POP3 RETR, FTP RETR) returns. Each command is appended to LOGFILE as
"<proto> <command verb>"; an upload (SMTP DATA, IMAP APPEND, FTP STOR) as
"<proto> upload <bytes>".
"""

import socket
import socketserver
import ssl
import sys
import threading

MODE, CERT, KEY, LOG = sys.argv[1:5]
SIZE = int(sys.argv[5]) if len(sys.argv) > 5 else 1 << 20
LOCK = threading.Lock()


def log(line):
    with LOCK, open(LOG, "a") as f:
        f.write("%s %s\n" % (MODE, line))


def payload(n):
    """n bytes of mail-looking text lines (no line is a lone '.')."""
    line = b"Lorem ipsum dolor sit amet, consectetur adipiscing elit 0123456789\r\n"
    head = b"Subject: test\r\n\r\n"
    body = head + line * ((n - len(head)) // len(line) + 1)
    return body[: n - 2] + b"\r\n"


class Conn:
    def __init__(self, sock, ctx):
        self.ctx = ctx
        self.s = sock
        self.f = sock.makefile("rb")

    def send(self, text):
        self.s.sendall(text.encode() if isinstance(text, str) else text)

    def line(self):
        ln = self.f.readline(65536)
        if not ln:
            raise EOFError
        text = ln.decode("latin-1").rstrip("\r\n")
        log(text.split(" ")[0] if MODE != "imap" else " ".join(text.split(" ")[1:2]))
        return text


def smtp(c):
    c.send("220 localhost ESMTP e2e\r\n")
    while True:
        verb = c.line().split(" ")[0].upper()
        if verb in ("EHLO", "HELO"):
            c.send("250-localhost\r\n250-SIZE 100000000\r\n250 8BITMIME\r\n")
        elif verb == "DATA":
            c.send("354 end with <CRLF>.<CRLF>\r\n")
            n = 0
            while True:
                ln = c.f.readline(1 << 20)
                if not ln or ln == b".\r\n":
                    break
                n += len(ln)
            log("upload %d" % n)
            c.send("250 queued\r\n")
        elif verb == "QUIT":
            c.send("221 bye\r\n")
            return
        else:
            c.send("250 ok\r\n")


def imap(c):
    c.send("* OK IMAP4rev1 e2e ready\r\n")
    while True:
        text = c.line()
        tag, _, rest = text.partition(" ")
        verb = rest.split(" ")[0].upper()
        if verb == "CAPABILITY":
            c.send("* CAPABILITY IMAP4rev1\r\n%s OK done\r\n" % tag)
        elif verb == "SELECT" or verb == "EXAMINE":
            c.send("* 1 EXISTS\r\n* FLAGS (\\Seen)\r\n* OK [UIDVALIDITY 1]\r\n"
                   "%s OK [READ-WRITE] done\r\n" % tag)
        elif verb in ("FETCH", "UID"):
            body = payload(SIZE)
            c.send(b"* 1 FETCH (UID 1 BODY[] {%d}\r\n" % len(body) + body + b")\r\n")
            c.send("%s OK done\r\n" % tag)
        elif verb == "APPEND":
            n = int(text.rsplit("{", 1)[1].rstrip("}+"))
            c.send("+ go ahead\r\n")
            got = c.f.read(n)
            c.f.readline()
            log("upload %d" % len(got))
            c.send("%s OK done\r\n" % tag)
        elif verb == "LOGOUT":
            c.send("* BYE\r\n%s OK done\r\n" % tag)
            return
        else:
            c.send("%s OK done\r\n" % tag)


def pop3(c):
    c.send("+OK POP3 e2e ready\r\n")
    while True:
        verb = c.line().split(" ")[0].upper()
        if verb == "CAPA":
            c.send("+OK\r\nUSER\r\nUIDL\r\n.\r\n")
        elif verb == "RETR":
            c.send(b"+OK message follows\r\n" + payload(SIZE) + b".\r\n")
        elif verb == "LIST":
            c.send("+OK\r\n1 %d\r\n.\r\n" % SIZE)
        elif verb == "QUIT":
            c.send("+OK bye\r\n")
            return
        else:
            c.send("+OK\r\n")


def ftp(c):
    c.send("220 e2e FTP ready\r\n")
    data = None
    while True:
        text = c.line()
        verb = text.split(" ")[0].upper()
        if verb == "USER":
            c.send("331 password please\r\n")
        elif verb == "PASS":
            c.send("230 logged in\r\n")
        elif verb == "PWD":
            c.send('257 "/" is the current directory\r\n')
        elif verb == "EPSV":
            data = socket.socket()
            data.bind(("127.0.0.1", 0))
            data.listen(1)
            c.send("229 Entering Extended Passive Mode (|||%d|)\r\n" % data.getsockname()[1])
        elif verb == "SIZE":
            c.send("213 %d\r\n" % SIZE)
        elif verb in ("RETR", "STOR"):
            c.send("150 opening data connection\r\n")
            raw, _ = data.accept()
            data.close()
            ds = c.ctx.wrap_socket(raw, server_side=True)
            if verb == "RETR":
                ds.sendall(payload(SIZE))
            else:
                n = 0
                while True:
                    b = ds.recv(65536)
                    if not b:
                        break
                    n += len(b)
                log("upload %d" % n)
            try:
                ds.unwrap()
            except (OSError, ssl.SSLError):
                pass
            ds.close()
            c.send("226 transfer complete\r\n")
        elif verb == "QUIT":
            c.send("221 bye\r\n")
            return
        else:
            c.send("200 ok\r\n")


class Handler(socketserver.BaseRequestHandler):
    def handle(self):
        ctx = self.server.ssl_ctx
        self.request.settimeout(30)
        try:
            s = ctx.wrap_socket(self.request, server_side=True)
            globals()[MODE](Conn(s, ctx))
        except (EOFError, OSError, ssl.SSLError, ValueError, IndexError):
            pass


class Server(socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(CERT, KEY)
    # No TLS 1.3 session tickets: curl never reads its FTP data connection,
    # so tickets left unread there made its close a reset, and the reset
    # threw away the upload's last bytes still queued here (measured without
    # the daemon: 6 uploads of 10 ended at 114,688 bytes; none with this).
    ctx.num_tickets = 0
    srv = Server(("127.0.0.1", 0), Handler)
    srv.ssl_ctx = ctx
    print("PORT %d" % srv.server_address[1], flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
