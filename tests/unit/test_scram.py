"""SCRAM-SHA-256 server side, checked against scramp (pg8000's independent client)."""
import base64

import pytest
from scramp import ScramClient, ScramMechanism

from proxy.wire.scram import ScramError, ScramServer, Verifier, make_verifier, mock_verifier


def exchange(verifier: Verifier, password: str, *, valid: bool = True) -> str:
    client = ScramClient(["SCRAM-SHA-256"], "alice", password)
    server = ScramServer(verifier, valid=valid)
    client.set_server_first(server.handle_client_first(client.get_client_first().encode()).decode())
    final = server.handle_client_final(client.get_client_final().encode())
    client.set_server_final(final.decode())  # raises if the server signature is wrong
    return final.decode()


def test_right_password_is_accepted_and_server_proves_itself():
    assert exchange(make_verifier("s3cret"), "s3cret").startswith("v=")


def test_wrong_password_is_refused():
    with pytest.raises(ScramError):
        exchange(make_verifier("s3cret"), "guess")


def test_unknown_user_fails_even_with_a_matching_mock_proof():
    v = mock_verifier("mallory", b"k" * 32)
    with pytest.raises(ScramError):
        exchange(v, "anything", valid=False)


def test_mock_verifier_is_stable_per_user_and_differs_between_users():
    assert mock_verifier("a", b"s" * 32) == mock_verifier("a", b"s" * 32)
    assert mock_verifier("a", b"s" * 32).salt != mock_verifier("b", b"s" * 32).salt


def test_verifier_round_trips_through_its_text_form():
    v = make_verifier("pw", salt=b"0123456789abcdef", iterations=4096)
    text = str(v)
    assert text.startswith("SCRAM-SHA-256$4096:" + base64.b64encode(b"0123456789abcdef").decode() + "$")
    assert Verifier.parse(text) == v


def test_verifier_keys_match_an_independent_implementation():
    # scramp derives StoredKey and ServerKey by RFC 5802, as PostgreSQL's scram_build_secret does.
    salt, stored, server, _ = ScramMechanism().make_auth_info("foobar", iteration_count=4096, salt=b"saltsaltsalt")
    ours = make_verifier("foobar", salt=b"saltsaltsalt", iterations=4096)
    assert (ours.stored_key, ours.server_key) == (stored, server)


@pytest.mark.parametrize("text", ["", "md5abc", "SCRAM-SHA-256$x:y$z:w", "SCRAM-SHA-256$4096:c2FsdA==$YQ==:YQ=="])
def test_malformed_verifiers_are_rejected(text):
    with pytest.raises(ValueError):
        Verifier.parse(text)


def test_channel_binding_request_is_refused():
    server = ScramServer(make_verifier("x"))
    with pytest.raises(ScramError):
        server.handle_client_first(b"p=tls-server-end-point,,n=,r=abc")


def test_tampered_nonce_is_refused():
    client = ScramClient(["SCRAM-SHA-256"], "alice", "pw")
    server = ScramServer(make_verifier("pw"))
    client.set_server_first(server.handle_client_first(client.get_client_first().encode()).decode())
    final = client.get_client_final().replace("r=", "r=X", 1)
    with pytest.raises(ScramError):
        server.handle_client_final(final.encode())
