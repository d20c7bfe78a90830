"""The userMessage request parameter (Authentication Request Parameter Extensions 1.1 §2.1):
parsing, refusal, and the choice of language."""

import base64
import json

import pytest

from idp.authn import UserMessage
from idp.oidc.user_message import MAX_ENCODED_LENGTH, metadata, parse_user_message


def b64(text: str) -> str:
    return base64.b64encode(text.encode("utf-8")).decode()


def test_a_plain_message_is_decoded_from_base64_utf8():
    msg = parse_user_message(json.dumps({"message": b64("Logga in på Åre kommun")}), locales=())
    assert msg == UserMessage(
        "Logga in på Åre kommun", markdown=False, by_language=(("", msg.text),)
    )


def test_mime_type_defaults_to_text_plain_and_markdown_is_flagged():
    assert not parse_user_message({"message": b64("x")}, locales=()).markdown
    md = parse_user_message({"message": b64("# Hej"), "mime_type": "text/markdown"}, locales=())
    assert md.markdown and md.text == "# Hej"


def test_an_unsupported_mime_type_is_refused():
    with pytest.raises(ValueError, match="mime_type must be text/plain or text/markdown"):
        parse_user_message({"message": b64("<b>x</b>"), "mime_type": "text/html"}, locales=())


def test_the_ui_locale_variant_wins_then_the_untagged_one_then_any():
    value = {"message#sv": b64("Hej"), "message#en": b64("Hello"), "message": b64("Neutral")}
    assert parse_user_message(value, locales=("en", "sv")).text == "Hello"
    assert parse_user_message(value, locales=("sv-SE",)).text == "Hej"
    assert parse_user_message(value, locales=("de",)).text == "Neutral"
    assert parse_user_message(value, locales=()).text == "Neutral"
    only_tagged = {"message#en": b64("Hello"), "message#sv": b64("Hej")}
    assert parse_user_message(only_tagged, locales=("fi",)).text == "Hello"


def test_the_login_page_can_pick_its_own_language_again():
    value = {"message#sv": b64("Hej"), "message#en": b64("Hello"), "message": b64("Neutral")}
    msg = parse_user_message(value, locales=("en",))
    assert msg.for_locale("sv") == "Hej" and msg.for_locale("en") == "Hello"
    assert msg.for_locale("fi") == "Neutral"
    english_only = parse_user_message({"message#en": b64("Hello")}, locales=())
    assert english_only.for_locale("sv") == "Hello"


@pytest.mark.parametrize(
    ("value", "description"),
    [
        ("not json", "userMessage must be a JSON object"),
        ("[1, 2]", "userMessage must be a JSON object"),
        ({}, "userMessage has no message"),
        ({"mime_type": "text/plain"}, "userMessage has no message"),
        ({"message": "%%%"}, "userMessage message must be base64 of UTF-8 text"),
        ({"message": 5}, "userMessage message must be base64 of UTF-8 text"),
        ({"message": base64.b64encode(b"\xff\xfe").decode()}, "base64 of UTF-8 text"),
        ({"message": b64("   ")}, "userMessage message is empty"),
        ({"message": b64("bell\x07")}, "control characters"),
        ({"message": b64("<script>x</script>"), "mime_type": "text/markdown"}, "HTML"),
        ({"message": b64("å" * 600)}, "too long"),
        ({"message#sv": b64("ok"), "message#en": b64("x" * 1200)}, "too long"),
    ],
)
def test_bad_values_are_refused_with_a_fixed_description(value, description):
    with pytest.raises(ValueError, match=description) as info:
        parse_user_message(value, locales=("sv",))
    assert "%%%" not in str(info.value) and "script" not in str(info.value)


def test_the_longest_message_bankid_shows_is_accepted():
    text = "a" * (MAX_ENCODED_LENGTH // 4 * 3)  # exactly 1,500 base64 characters
    assert len(b64(text)) == MAX_ENCODED_LENGTH
    assert parse_user_message({"message": b64(text)}, locales=()).text == text
    lines = parse_user_message({"message": b64("rad 1\r\nrad 2\nrad 3")}, locales=())
    assert lines.text == "rad 1\r\nrad 2\nrad 3"  # CR, LF and CRLF line breaks are fine


def test_no_parameter_is_no_message():
    assert parse_user_message(None, locales=()) is None
    assert parse_user_message("", locales=()) is None


def test_discovery_says_user_messages_are_supported_in_plain_text_and_markdown():
    assert metadata() == {
        "https://id.oidc.se/disco/userMessageSupported": True,
        "https://id.oidc.se/disco/userMessageSupportedMimeTypes": ["text/plain", "text/markdown"],
    }
