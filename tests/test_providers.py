"""Provider blocks are checked against the provider registry, not a hard-coded name."""

from __future__ import annotations

from click.testing import CliRunner

from meshprov.cli import cli


def _validate(tmp_path, text: str):
    (tmp_path / "main.hcl").write_text(text)
    return CliRunner().invoke(cli, ["-C", str(tmp_path), "validate"])


def test_an_unknown_provider_names_the_registered_ones(tmp_path):
    result = _validate(tmp_path, 'provider "gcp" {}\n')
    assert result.exit_code == 1
    assert "Error: Unsupported provider" in result.output
    assert 'meshprov has no provider "gcp"; the only provider is "aws".' in result.output


def test_a_provider_block_takes_the_arguments_its_plugin_registered(tmp_path):
    result = _validate(tmp_path, 'provider "aws" {\n  regoin = "eu-west-1"\n}\n')
    assert result.exit_code == 1
    assert 'An argument named "regoin" is not expected here in provider "aws".' in result.output
    assert 'Did you mean "region"?' in result.output

    result = _validate(tmp_path, 'provider "aws" {\n  region = "eu-west-1"\n}\n')
    assert result.exit_code == 0, result.output
