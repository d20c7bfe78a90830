"""The `branding:` block: an accent colour that fails WCAG AA contrast is refused with the
colour, its ratio and the minimum; files must exist and be of an allowed kind and size; links
must be https. `idp check-config` reports each with its path."""

from __future__ import annotations

import textwrap

import pytest

from idp.cli import main
from idp.config import ConfigError, parse_settings

ISSUER = "https://id.example.com"
SVG = (
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 10 10">'
    '<rect width="10" height="10"/></svg>'
)


def settings(**branding):
    return parse_settings({"issuer": ISSUER, "branding": branding}, source="test", environ={})


def problems(**branding) -> dict[str, str]:
    with pytest.raises(ConfigError) as info:
        settings(**branding)
    return {i.path: i.message for i in info.value.issues}


def test_contrast_ratio_is_wcags():
    from idp.config.schema import contrast_ratio

    assert round(contrast_ratio("#000000", "#ffffff"), 2) == 21.0
    assert round(contrast_ratio("#767676", "#ffffff"), 2) == 4.54
    assert contrast_ratio("#ffffff", "#ffffff") == 1.0


def test_a_low_contrast_accent_colour_is_refused_with_its_ratio_and_the_minimum():
    found = problems(accent_colour="#7FA0C0")
    message = found["branding.accent_colour"]
    assert "#7fa0c0" in message and "2.73:1" in message and "4.5:1" in message
    assert "white" in message
    # Enough against white (4.54:1), not against the page background behind the header link.
    message = problems(accent_colour="#767676")["branding.accent_colour"]
    assert "4.16:1" in message and "#f4f5f7" in message


@pytest.mark.parametrize("colour", ["#00594f", "#193E4F", "#0b5fff", "#000000"])
def test_an_accent_colour_with_enough_contrast_is_accepted(colour):
    assert settings(accent_colour=colour).branding.accent_colour == colour.lower()


@pytest.mark.parametrize("colour", ["red", "#fff", "#12345g", "rgb(0,0,0)"])
def test_an_accent_colour_must_be_rrggbb(colour):
    found = problems(accent_colour=colour)
    assert "expected a colour as #rrggbb" in found["branding.accent_colour"]


def test_files_must_exist_and_be_of_an_allowed_kind_and_size(tmp_path):
    found = problems(
        logo=str(tmp_path / "missing.svg"),
        favicon=str(tmp_path / "icon.gif"),
        extra_css=str(tmp_path / "missing.css"),
    )
    assert "cannot read" in found["branding.logo"] and "missing.svg" in found["branding.logo"]
    assert "expected a .svg or .png or .ico file" in found["branding.favicon"]
    assert "cannot read" in found["branding.extra_css"]

    fake_png = tmp_path / "logo.png"
    fake_png.write_text("<svg></svg>")
    scripted = tmp_path / "scripted.svg"
    scripted.write_text('<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"></svg>')
    big = tmp_path / "big.svg"
    big.write_text(SVG + " " * 300_000)
    remote_css = tmp_path / "remote.css"
    remote_css.write_text("body { background: url('https://cdn.example/bg.png'); }")
    assert "not a PNG image" in problems(logo=str(fake_png))["branding.logo"]
    assert "script" in problems(logo=str(scripted))["branding.logo"]
    assert "at most 262144" in problems(logo=str(big))["branding.logo"]
    assert "Content-Security-Policy" in problems(extra_css=str(remote_css))["branding.extra_css"]


def test_links_must_be_https():
    found = problems(support_url="http://bank.example/help", privacy_url="not a url")
    assert "https" in found["branding.support_url"]
    assert "branding.privacy_url" in found


def test_a_complete_block_is_accepted(tmp_path):
    (tmp_path / "logo.svg").write_text(SVG)
    (tmp_path / "extra.css").write_text(".brand { font-weight: 700; }")
    s = settings(
        **{
            "organisation_name": "Exempelbanken",
            "organisation_name#en": "Example Bank",
            "logo": str(tmp_path / "logo.svg"),
            "extra_css": str(tmp_path / "extra.css"),
            "accent_colour": "#00594f",
            "support_url": "https://bank.example/support",
        }
    ).branding
    assert s.organisation("sv") == "Exempelbanken" and s.organisation("en") == "Example Bank"


def test_check_config_refuses_a_low_contrast_colour_with_a_clear_message(tmp_path, capsys):
    path = tmp_path / "idp.yaml"
    path.write_text(
        textwrap.dedent(
            f"""\
            issuer: {ISSUER}
            branding:
              organisation_name: Exempelbanken
              accent_colour: "#ff9900"
              logo: {tmp_path / "nowhere.png"}
            """
        )
    )
    assert main(["check-config", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"{path}: branding.accent_colour: accent colour #ff9900 has a contrast ratio of " in err
    assert "WCAG 2.1 AA needs at least 4.5:1" in err
    assert f"{path}: branding.logo: cannot read" in err
