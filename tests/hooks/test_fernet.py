"""The Airflow under test can encrypt a connection field (Fernet), as every deployment does.

Airflow 3.0.6's ``get_fernet()`` sets an attribute on ``MultiFernet``; cryptography 46+ refuses it, the
error is swallowed by the secrets-backend loop and every connection then "is not found". The floor's
constraints pin cryptography; this test fails if any drift breaks encryption again.
"""

from __future__ import annotations

import os
import subprocess
import sys

from cryptography.fernet import Fernet

_ENCRYPT = """
from airflow.models.connection import Connection
conn = Connection(conn_id="hubspot_default", conn_type="hubspot", password="pat-na1-secret")
assert conn.is_encrypted, "the password was stored in clear"
assert conn._password != "pat-na1-secret", "the stored password is not encrypted"
assert conn.password == "pat-na1-secret", "the password does not decrypt"
print("encrypted")
"""


def test_a_connection_password_is_encrypted_and_decrypted() -> None:
    env = dict(os.environ, AIRFLOW__CORE__FERNET_KEY=Fernet.generate_key().decode())
    result = subprocess.run(
        [sys.executable, "-c", _ENCRYPT], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip().endswith("encrypted")
