"""The pure parts of the rebuild's page reader: what a JetStream reply subject says, and how a URL's
credentials become the CONNECT options. (The reader itself runs against a real nats-server in the
rebuild tests and in tests/integration/test_deploy_permissions.py.)"""

import urllib.parse

import pytest

from kit.page_reader import Delivery, PageReaderError, connect_options, delivery_of


def test_a_reply_subject_gives_the_stream_sequence_and_what_is_still_pending():
    assert delivery_of(b"$JS.ACK.KIT_EVENTS_INTAKE.views-rebuild.1.4711.12.1796109829469201276.250") == \
        Delivery(stream_sequence=4711, pending=250)


def test_the_newer_form_with_domain_and_account_hash_is_read_too():
    reply = b"$JS.ACK._.AAHASH.KIT_EVENTS_INTAKE.views-rebuild.1.4711.12.1796109829469201276.0.rnd"
    assert delivery_of(reply) == Delivery(stream_sequence=4711, pending=0)
    assert delivery_of(reply.rsplit(b".", 1)[0]) == Delivery(stream_sequence=4711, pending=0)


@pytest.mark.parametrize("reply", [b"_INBOX.abc.def", b"$JS.ACK.too.short", b"$JS.API.CONSUMER.X.Y.1.2.3.4.5"])
def test_anything_else_is_refused(reply):
    with pytest.raises(PageReaderError, match="not a JetStream delivery"):
        delivery_of(reply)


def options(url: str) -> dict:
    return connect_options(urllib.parse.urlsplit(url), "kit-test")


def test_user_and_password_from_the_url_percent_decoded():
    got = options("nats://svc-views:p%40ss%3Aword@nats-1:4222")
    assert (got["user"], got["pass"]) == ("svc-views", "p@ss:word")
    assert "auth_token" not in got


def test_a_lone_user_part_is_a_token():
    got = options("nats://s3cr3t-token@nats-1:4222")
    assert got["auth_token"] == "s3cr3t-token" and "user" not in got


def test_no_credentials_no_secret_and_the_options_a_pull_needs():
    got = options("nats://127.0.0.1:4222")
    assert not {"user", "pass", "auth_token"} & set(got)
    assert got["headers"] is True and got["no_responders"] is True and got["verbose"] is False
    assert got["name"] == "kit-test"
