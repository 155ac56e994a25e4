"""Tokens inside request paths (issue 15): a webhook's or a bot's secret in
the path leaves the host neither in a datagram nor in the daemon's log; the
rest of the path does, so the Orchestrator's url patterns still match.
The rule: src/path_redact.h, README "What leaves the host".
"""


from conftest import curl_get

SLACK_SECRET = "Vx9rT2LmQw8ZpK4nB7sD1fGh"
DISCORD_SECRET = "AbC-dEf_1234567890123456789012345abcdefghijklmnopqrstuvwxyzABCDEF12"
TELEGRAM_SECRET = "AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"
JWT = ("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0."
       "dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U")

CALLS = [
    ("/hello/services/T0123ABCD/B0456EFGH/%s" % SLACK_SECRET,
     "/hello/services/T0123ABCD/B0456EFGH/:token"),
    ("/hello/api/webhooks/123456789012345678/%s/slack?wait=true" % DISCORD_SECRET,
     "/hello/api/webhooks/123456789012345678/:token/slack"),
    ("/hello/bot123456789:%s/sendMessage" % TELEGRAM_SECRET, "/hello/bot:token/sendMessage"),
    ("/hello/verify/%s" % JWT, "/hello/verify/:token"),
    # Ordinary ids and names stay.
    ("/hello/v1/items/550e8400-e29b-41d4-a716-446655440000/GetUserProfileSettings",
     "/hello/v1/items/550e8400-e29b-41d4-a716-446655440000/GetUserProfileSettings"),
    ("/hello/v1/customers/cus_9s6XKzkNRiz8i3/invoices/12345678901234567890",
     "/hello/v1/customers/cus_9s6XKzkNRiz8i3/invoices/12345678901234567890"),
]


def test_tokens_in_paths_never_leave(daemon, orchestrator, tls_server):
    s = tls_server
    curl_get([s.url(target) for target, _ in CALLS])
    calls = orchestrator.expect_calls([("GET", sent) for _, sent in CALLS], s.host)
    secrets = [SLACK_SECRET, DISCORD_SECRET, TELEGRAM_SECRET, JWT, "123456789:"]
    for c in calls:
        assert not any(x.encode() in c.raw for x in secrets), c.raw
    logged = daemon.wait_logged_calls(len(CALLS), s.host)
    assert sorted(c.path for c in logged) == sorted(sent for _, sent in CALLS), logged
    log = daemon.log()
    leaked = [x for x in secrets if x in log]
    assert not leaked, "secrets in the daemon's log: %s\n%s" % (leaked, log[-3000:])
    # What the server received is the real path: only the report is redacted.
    assert SLACK_SECRET in s.log(), s.log()[-2000:]
