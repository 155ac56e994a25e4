"""suggest-config as a user runs it: `calls --json` lines in (--from-json, no
daemon needed), the Orchestrator's configuration out, read back with PyYAML
(a YAML reader other than the libyaml of the unit test and the fuzz target).

The round trip with PCRE itself is in tests/unit/test_suggest.c. Here the
regexes are matched with Python's `re`, which agrees with PCRE on every
construct suggest-config writes, checked by REGEX_GRAMMAR below: ^ and $
anchors, literal ASCII characters, a backslash before ASCII punctuation
(literal in both), the class [^/]+, and (?!(?:A|B)$) lookaheads; subjects
are ASCII without newlines, so $ before a final newline never comes up.
"""

import json
import re
import subprocess

import yaml

from conftest import daemon_path

# What a suggested regex is made of (see the module docstring).
_LIT = r"(?:[A-Za-z0-9/_:%@!&=,;~`<>\"'-]|\\[\\^$.|?*+()\[\]{}#]|\[\^/\]\+)"
REGEX_GRAMMAR = re.compile(r"\^(?:\(\?!\(\?:%s+(?:\|%s+)*\)\$\))?%s+\$" % (_LIT, _LIT, _LIT))

ROWS = [
    ("GET", "api.stripe.com", "/v1/customers/{id}/invoices", 120),
    ("GET", "api.stripe.com", "/v1/customers/{id}", 80),
    ("GET", "api.stripe.com", "/v1/customers/search", 7),
    ("GET", "api.stripe.com", "/v1/customers", 40),
    ("POST", "api.stripe.com", "/v1/customers/{id}", 12),
    ("GET", "api.stripe.com", "(other)", 30),
    ("POST", "hooks.slack.com", "/services/{id}/{id}/{id}", 10),
    ("GET", "api.github.com", "/repos/{id}/{id}/issues", 4),
    ("GET", "127.0.0.1:8443", "/files/{id}.json", 2),
    ("GET", "127.0.0.1:8443", "/files/{id}", 9),
    ("GET", "127.0.0.1:9443", "/files/{id}", 2),
    ("GET", "[::1]:8443", "/it's/a.b+c(d)[e]{id}|g^h$i?j*k\\l#m", 2),
    ("OPTIONS", "localhost:8443", "*", 1),
]
IDS = ["12345", "cus_9s6XKzkNRiz8i3", "550e8400-e29b-41d4-a716-446655440000", "QmFzZTY0"]


def rows_json(rows):
    out = []
    for method, host, template, count in rows:
        out.append(json.dumps({
            "method": method, "host": host, "template": template, "count": count,
            "errors": 0, "p50_ms": 41.2, "p95_ms": 80.1, "p99_ms": 95.0, "max_ms": 97.3,
            "first_seen": "2026-12-02T08:00:00Z", "last_seen": "2026-12-02T08:05:12Z",
            "programs": [{"comm": "curl", "pids": [1234, 1301]}]}))
    return "\n".join(out) + "\n"


def suggest(stdin, *args):
    return subprocess.run([daemon_path(), "suggest-config", *args], input=stdin,
                          capture_output=True, text=True, timeout=30)


def load_patterns(text):
    doc = yaml.safe_load(text)
    assert isinstance(doc, dict) and list(doc) == ["patterns"], doc
    patterns = doc["patterns"]
    assert isinstance(patterns, dict)
    for key, value in patterns.items():
        assert isinstance(key, str) and key.count(".") == 1, key
        monitor, check = key.split(".")
        assert monitor and check, key
        assert isinstance(value, dict) and sorted(value) == ["host", "method", "url"], value
        for field, regex in value.items():
            assert isinstance(regex, str) and REGEX_GRAMMAR.fullmatch(regex), (key, field, regex)
    return patterns


def matches(patterns, method, host, path):
    """The Orchestrator's match: every field searched, case-sensitive."""
    return [key for key, p in patterns.items()
            if re.search(p["method"], method) and re.search(p["host"], host)
            and re.search(p["url"], path)]


def concrete(template, k):
    parts = template.split("{id}")
    return "".join(part + (IDS[(k + i) % len(IDS)] if i < len(parts) - 1 else "")
                   for i, part in enumerate(parts))


def test_round_trip_with_pyyaml():
    res = suggest(rows_json(ROWS), "--from-json", "-")
    assert res.returncode == 0, res.stderr
    patterns = load_patterns(res.stdout)
    assert len(patterns) == len([r for r in ROWS if r[2] != "(other)"])
    owner = {}
    hosts = {r[1] for r in ROWS}
    for method, host, template, _ in ROWS:
        if template == "(other)":
            continue
        for k in range(len(IDS)):
            path = concrete(template, k)
            found = matches(patterns, method, host, path)
            assert len(found) == 1, (method, host, path, found)
            assert owner.setdefault((method, host, template), found[0]) == found[0]
            for other in hosts - {host}:
                assert not [key for key in matches(patterns, method, other, path)
                            if re.search(patterns[key]["host"], host)], (other, path)
    assert len(set(owner.values())) == len(owner)
    assert owner[("GET", "api.stripe.com", "/v1/customers/{id}/invoices")] == \
        "stripe.GetCustomerInvoices"
    assert matches(patterns, "GET", "api.stripe.com", "/v1/customers/search") == \
        ["stripe.GetCustomersSearch"]
    assert "# GET api.stripe.com: 30 calls to paths too rarely used" in res.stdout
    assert "# 120 calls, 0 errors, p50 41.2 ms, p99 95.0 ms, programs: curl[1234,1301]" \
        in res.stdout


def test_options_from_a_file(tmp_path):
    f = tmp_path / "calls.jsonl"
    f.write_text(rows_json(ROWS))
    res = suggest(None, "--from-json", str(f), "--host", "api.stripe.com", "--min-count", "10")
    assert res.returncode == 0, res.stderr
    patterns = load_patterns(res.stdout)
    assert sorted(patterns) == ["stripe.GetCustomer", "stripe.GetCustomerInvoices",
                                "stripe.GetCustomers", "stripe.PostCustomer"]
    # Under --min-count: no pattern, and not taken by /v1/customers/{id}.
    assert matches(patterns, "GET", "api.stripe.com", "/v1/customers/search") == []
    assert "/v1/customers/search: 7 calls, under --min-count 10" in res.stdout


def test_nothing_discovered():
    res = suggest("", "--from-json", "-")
    assert res.returncode == 0, res.stderr
    assert yaml.safe_load(res.stdout) == {"patterns": {}}


def test_hostile_rows_cannot_break_the_document():
    rows = [("GET", "a.com\n  evil.Key: {method: x}", "/x", 5),
            ("GET", "a.com", "/x\n#'y", 5),
            ("GET", "a.com", "/caf\u00e9", 5),
            ("get", "a.com", "/x", 5),
            ("GET", "a.com", "/ok'{id}", 5)]
    text = rows_json(rows).replace('"curl"', '"ev\\nil: \'x"')
    res = suggest(text, "--from-json", "-")
    assert res.returncode == 0, res.stderr
    assert all(c == "\n" or " " <= c <= "~" for c in res.stdout)
    patterns = load_patterns(res.stdout)
    assert list(patterns) == ["a.GetOk"]
    assert patterns["a.GetOk"]["url"] == "^/ok'[^/]+$"
    assert res.stdout.count("not a call as sent on the wire") == 4


def test_bad_input_and_arguments():
    res = suggest(rows_json(ROWS[:2]) + '{"method":"GET"}\n', "--from-json", "-")
    assert res.returncode == 1
    assert res.stderr.strip().endswith('suggest-config: stdin, line 3: no "host"')
    assert res.stdout == ""
    res = suggest(None, "--from-json", "/nonexistent/calls.jsonl")
    assert res.returncode == 1 and "cannot open /nonexistent/calls.jsonl" in res.stderr
    for args in (["--min-count"], ["--min-count", "-1"], ["--min-count", "x"], ["--host"],
                 ["--bogus"]):
        res = suggest(None, *args)
        assert res.returncode == 2, args
        assert "Usage:" in res.stderr
    res = suggest(None, "--help")
    assert res.returncode == 0 and "METRIST_CMA_CONFIG" in res.stdout
