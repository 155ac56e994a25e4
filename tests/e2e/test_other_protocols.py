"""Client protocols that are not HTTP, over TLS: SMTP, IMAP, POP3 and FTP with
implicit TLS (curl's smtps://, imaps://, pop3s://, ftps://) against
mail_server.py on 127.0.0.1, each moving 1 MB (a mail sent, a message
fetched, a file downloaded and an SQL dump uploaded).

Their first commands ("EHLO x", "USER x", "DELETE FROM t;" as the first
bytes of an FTP upload) started like requests to the kernel's old test (an
upper-case token and a space), so their connections were traced and, the
HTTP/1 parser being lost on them, copied in full for their lifetime. Now the
kernel lets in only a write that starts with an HTTP method and a request
target, and the daemon drops a connection whose first line or first reply
is not HTTP (not_http): no call is reported for them, and the bytes the
daemon receives (copied_bytes, at exit) stay far below what they moved.
The same curl's HTTPS calls are still reported, exactly once each.
"""

import re
import time

import pytest

from conftest import E2E_DIR, PYTHON, curl_get, run, start_port_server, _stop_proc

MAIL_SERVER = str(E2E_DIR / "mail_server.py")
SIZE = 1 << 20
# What the daemon may receive for a whole test: the HTTPS call's head and
# response (a few hundred bytes) and anything else on the host meanwhile;
# nowhere near the megabyte each protocol moves.
COPIED_MAX = 64 * 1024


@pytest.fixture(scope="module")
def servers(certs, tmp_path_factory):
    cert, key = certs
    out = {}
    for proto in ("smtp", "imap", "pop3", "ftp"):
        d = tmp_path_factory.mktemp(proto)
        log = d / "commands.log"
        out[proto] = start_port_server(
            [PYTHON, MAIL_SERVER, proto, str(cert), str(key), str(log), str(SIZE)], d, log,
            "mail_server.py " + proto)
    yield out
    for srv in out.values():
        _stop_proc(srv.proc)


def curl_session(url, *args):
    r = run(["curl", "-k", "-sS", "--max-time", "30", url] + list(args), timeout=40)
    assert r.returncode == 0, "curl %s failed: %s" % (url, r.stderr)
    return r


def upload_file(path, first_line):
    line = b"INSERT INTO t VALUES (1, 'Lorem ipsum dolor sit amet, consectetur');\r\n"
    with open(path, "wb") as f:
        f.write(first_line)
        f.write(line * (SIZE // len(line) + 1))
    return str(path)


def exit_stats(daemon):
    """The counters of the daemon's 'stats (exit)' line (stops the daemon)."""
    assert daemon.stop() == 0, daemon.log()[-3000:]
    m = re.search(r"stats \(exit\):(.*)", daemon.log())
    assert m, daemon.log()[-3000:]
    return {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", m.group(1))}


def only_https_reported(daemon, orchestrator, tls_server, tag):
    """An HTTPS call by curl after the session: reported once; no other call."""
    path = "/hello/after-" + tag
    curl_get([tls_server.url(path)])
    got = orchestrator.wait_for(1, host=tls_server.host, pred=lambda c: c.path == path)
    time.sleep(1.0)
    orchestrator.assert_no_errors()
    calls = orchestrator.matching()
    assert len(got) == 1 and len(calls) == 1, (
        "expected only the HTTPS call\n%s" % orchestrator.describe())
    logged = daemon.logged_calls()
    assert [c.host for c in logged] == [tls_server.host], daemon.log()[-4000:]


def check_not_copied(daemon, server, what):
    stats = exit_stats(daemon)
    assert "copied_bytes" in stats, "no copied_bytes in the exit stats\n" + daemon.log()[-2000:]
    assert stats["copied_bytes"] < COPIED_MAX, (
        "%d bytes copied for a %s of %d bytes\n%s" % (stats["copied_bytes"], what, SIZE,
                                                     daemon.log()[-3000:]))
    assert stats.get("calls", 0) == 1, daemon.log()[-3000:]
    return stats


def test_smtp_mail(daemon, orchestrator, tls_server, servers, tmp_path):
    srv = servers["smtp"]
    mail = upload_file(tmp_path / "mail.txt", b"Subject: report\r\n\r\n")
    curl_session("smtps://127.0.0.1:%d" % srv.port, "--mail-from", "a@example.org",
                 "--mail-rcpt", "b@example.org", "-T", mail)
    assert re.search(r"smtp upload (\d{7})", srv.log()), srv.log()[-500:]
    only_https_reported(daemon, orchestrator, tls_server, "smtp")
    check_not_copied(daemon, srv, "mail")


def test_imap_fetch_and_append(daemon, orchestrator, tls_server, servers, tmp_path):
    srv = servers["imap"]
    curl_session("imaps://127.0.0.1:%d/INBOX;UID=1" % srv.port, "-u", "u:p", "-o",
                 str(tmp_path / "msg"))
    assert (tmp_path / "msg").stat().st_size == SIZE
    curl_session("imaps://127.0.0.1:%d/INBOX" % srv.port, "-u", "u:p", "-T",
                 upload_file(tmp_path / "mail.txt", b"Subject: x\r\n\r\n"))
    only_https_reported(daemon, orchestrator, tls_server, "imap")
    check_not_copied(daemon, srv, "message fetched and appended")


def test_pop3_retrieve(daemon, orchestrator, tls_server, servers, tmp_path):
    srv = servers["pop3"]
    curl_session("pop3s://127.0.0.1:%d/1" % srv.port, "-u", "u:p", "-o", str(tmp_path / "msg"))
    assert (tmp_path / "msg").stat().st_size == SIZE
    only_https_reported(daemon, orchestrator, tls_server, "pop3")
    check_not_copied(daemon, srv, "message retrieved")


def test_ftp_download_and_upload(daemon, orchestrator, tls_server, servers, tmp_path):
    """The upload is an SQL dump: its data connection's first write is
    "DELETE FROM t;", an upper-case token and a space."""
    srv = servers["ftp"]
    curl_session("ftps://127.0.0.1:%d/f.txt" % srv.port, "-u", "u:p", "-o", str(tmp_path / "f"))
    assert (tmp_path / "f").stat().st_size == SIZE
    curl_session("ftps://127.0.0.1:%d/dump.sql" % srv.port, "-u", "u:p", "-T",
                 upload_file(tmp_path / "dump.sql", b"DELETE FROM t;\r\n"))
    assert re.search(r"ftp upload (\d{7})", srv.log()), srv.log()[-500:]
    only_https_reported(daemon, orchestrator, tls_server, "ftp")
    check_not_copied(daemon, srv, "file downloaded and uploaded")


def test_http_request_answered_by_pop3(daemon, orchestrator, tls_server, servers):
    """curl speaks HTTPS to the POP3 server: its request is HTTP, the reply
    ("+OK ...") is not. No call, and the connection is counted not HTTP."""
    srv = servers["pop3"]
    r = run(["curl", "-k", "-sS", "--max-time", "10", "https://127.0.0.1:%d/x" % srv.port],
            timeout=20)
    assert r.returncode != 0, r.stdout  # curl refuses an HTTP/0.9-looking answer
    only_https_reported(daemon, orchestrator, tls_server, "pop3-https")
    stats = exit_stats(daemon)
    assert stats.get("not_http", 0) >= 1, daemon.log()[-3000:]
    assert stats.get("calls", 0) == 1, daemon.log()[-3000:]
