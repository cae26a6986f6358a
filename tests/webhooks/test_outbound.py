"""The outbound HTTP module: SSRF guard on the resolved address, pinning, timeouts."""

import socket

import pytest

from messaging.outbound import OutboundError, UnsafeURL, post_json

REAL_GETADDRINFO = socket.getaddrinfo


def fake_dns(monkeypatch, answers: dict[str, list[str]]):
    """Make `host` resolve to the given addresses, one list per lookup (the last repeats).

    Other names (and the IP literals the socket layer itself looks up) resolve for real.
    Returns the list of hosts looked up through the fake.
    """
    lookups: list[str] = []

    def getaddrinfo(host, port, *args, **kwargs):
        if host not in answers:
            return REAL_GETADDRINFO(host, port, *args, **kwargs)
        lookups.append(host)
        queue = answers[host]
        address = queue.pop(0) if len(queue) > 1 else queue[0]
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        sockaddr = (address, port, 0, 0) if family == socket.AF_INET6 else (address, port)
        return [(family, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", sockaddr)]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return lookups


class TestGuard:
    def test_it_refuses_the_cloud_metadata_address_even_when_private_urls_are_allowed(self, allow_private):
        with pytest.raises(UnsafeURL, match="link-local"):
            post_json("http://169.254.169.254/latest/meta-data/", {"a": 1})

    @pytest.mark.parametrize(
        ("address", "problem"),
        [
            ("169.254.10.20", "link-local"),
            ("fe80::1", "link-local"),
            ("224.0.0.251", "multicast"),
            ("0.0.0.0", "unspecified"),
            ("::ffff:169.254.169.254", "link-local"),
        ],
    )
    def test_it_refuses_a_hostname_resolving_to_a_forbidden_address(
        self, allow_private, monkeypatch, receiver, address, problem
    ):
        fake_dns(monkeypatch, {"evil.example": [address]})
        with pytest.raises(UnsafeURL, match=problem):
            post_json(f"http://evil.example:{receiver.port}/hook", {"a": 1})
        assert receiver.requests == []

    def test_it_refuses_loopback_unless_private_urls_are_allowed(self, settings, receiver):
        settings.ALLOW_PRIVATE_URLS = False
        with pytest.raises(UnsafeURL, match="ALLOW_PRIVATE_URLS"):
            post_json(receiver.url(), {"a": 1})
        assert receiver.requests == []

        settings.ALLOW_PRIVATE_URLS = True
        response = post_json(receiver.url(), {"a": 1})
        assert response.status_code == 200
        assert len(receiver.requests) == 1

    def test_it_refuses_a_private_address_behind_a_public_looking_name(self, settings, monkeypatch, receiver):
        settings.ALLOW_PRIVATE_URLS = False
        fake_dns(monkeypatch, {"intranet.example": ["10.1.2.3"]})
        with pytest.raises(UnsafeURL, match="10.1.2.3"):
            post_json("http://intranet.example/hook", {"a": 1})

    @pytest.mark.parametrize("url", ["ftp://127.0.0.1/x", "file:///etc/passwd", "http:///nohost"])
    def test_it_refuses_urls_that_are_not_http(self, allow_private, url):
        with pytest.raises(UnsafeURL):
            post_json(url, {"a": 1})


class TestPinning:
    def test_it_connects_to_the_address_it_checked_not_a_rebound_one(self, allow_private, monkeypatch, receiver):
        # First lookup answers loopback (allowed here); any later lookup would answer the
        # metadata address. The request must still reach the receiver on 127.0.0.1, and
        # the name must have been resolved exactly once.
        lookups = fake_dns(monkeypatch, {"rebind.example": ["127.0.0.1", "169.254.169.254"]})
        response = post_json(f"http://rebind.example:{receiver.port}/hook", {"a": 1})
        assert response.status_code == 200
        assert lookups == ["rebind.example"]
        [request] = receiver.requests
        assert request.headers["Host"] == f"rebind.example:{receiver.port}"
        assert request.body == b'{"a":1}'

    def test_a_rebinding_answer_at_send_time_is_checked_again(self, allow_private, monkeypatch, receiver):
        # The name was fine when the subscription was saved; at send time it points at
        # the metadata service, and the send is refused before any connection.
        fake_dns(monkeypatch, {"rebind.example": ["127.0.0.1", "169.254.169.254"]})
        post_json(f"http://rebind.example:{receiver.port}/hook", {"a": 1})
        with pytest.raises(UnsafeURL, match="169.254.169.254"):
            post_json(f"http://rebind.example:{receiver.port}/hook", {"a": 2})
        assert len(receiver.requests) == 1


class TestSending:
    def test_it_posts_the_exact_bytes_and_headers_given(self, allow_private, receiver):
        receiver.answer(202, "queued")
        response = post_json(receiver.url("/in"), '{"b": 2,  "a": 1}', {"webhook-id": "msg_1"})
        assert (response.status_code, response.text_excerpt, response.reason_phrase) == (202, "queued", "Accepted")
        assert response.duration_ms >= 0
        [request] = receiver.requests
        assert request.path == "/in"
        assert request.body == b'{"b": 2,  "a": 1}'
        assert request.headers["webhook-id"] == "msg_1"
        assert request.headers["Content-Type"] == "application/json"

    def test_it_does_not_follow_redirects(self, allow_private, receiver):
        receiver.answer(302, "moved")
        response = post_json(receiver.url(), {"a": 1})
        assert response.status_code == 302
        assert len(receiver.requests) == 1

    def test_it_keeps_only_an_excerpt_of_the_response(self, allow_private, receiver):
        receiver.answer(500, "x" * 5000)
        response = post_json(receiver.url(), {"a": 1})
        assert response.status_code == 500
        assert response.text_excerpt == "x" * 500

    def test_it_times_out(self, allow_private, receiver):
        receiver.answer(200, "late", delay=1.5)
        with pytest.raises(OutboundError, match="timed out after 0.3s"):
            post_json(receiver.url(), {"a": 1}, timeout=0.3)

    def test_a_closed_port_is_a_connection_error(self, allow_private):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        with pytest.raises(OutboundError, match="connection failed"):
            post_json(f"http://127.0.0.1:{port}/hook", {"a": 1})
