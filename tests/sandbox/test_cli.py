"""``hubspot-sandbox``: a busy port is a one-line error; ``--help`` shows the defaults."""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest

from hubspot_events_provider.sandbox.cli import main


def test_busy_port_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert main(["--port", str(port)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err == f"hubspot-sandbox: cannot listen on 127.0.0.1:{port}: Address already in use\n"


def test_busy_port_from_the_command_line_has_no_traceback() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        cmd = [sys.executable, "-m", "hubspot_events_provider.sandbox.cli", "--port", str(port)]
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"hubspot-sandbox: cannot listen on 127.0.0.1:{port}: Address already in use"
    ]


def test_help_shows_the_defaults(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "--port PORT port on 127.0.0.1, 0 = any free port (default: 8765)" in text
    assert "valid static Bearer token, repeatable (default: sandbox-token)" in text
    assert "(default: unlimited)" in text
    assert "rolling window length, seconds (default: 10.0)" in text
