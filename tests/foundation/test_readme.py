"""The README stays true: its example configuration is valid, its quick start is two commands."""

import re
from pathlib import Path

from idp.config import load_settings

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()
ENV = {
    k: "x" * 40
    for k in ("DB_PASSWORD", "IDP_SECRET_KEY", "BANKID_P12_PASSWORD", "WEBSHOP_SECRET", "CS_SECRET")
}


def test_the_readme_example_is_the_examples_file_and_is_valid():
    block = re.search(r"```yaml\n(.*?)```", README, re.S).group(1)
    assert block == (ROOT / "examples" / "idp.yaml").read_text()
    settings = load_settings(ROOT / "examples" / "idp.yaml", environ=ENV)
    assert {c.client_id for c in settings.clients} == {"webshop", "mobile-app", "customer-service"}


def test_quick_start_is_two_commands_and_ci_runs_the_test_one():
    quick = re.search(r"## Quick start.*?```sh\n(.*?)```", README, re.S).group(1)
    commands = [line.split("#")[0].strip() for line in quick.strip().splitlines()]
    assert commands == ["make serve", "make test"]
    ci = (ROOT / ".ci" / "run").read_text()
    assert ci.rstrip().endswith("make test")
