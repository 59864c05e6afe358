"""What only a fresh interpreter shows: imports stay SDK-free, and the default credential chain
reads the environment (the credentials library reads its variables once, when imported)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

from airflow_provider_imm.emulator import ImmEmulator
from tests.emulated_imm import MakeConn

_SDK_PREFIXES = ("alibabacloud_", "darabonba", "Tea", "mns")

_SCRIPT = textwrap.dedent(
    """
    import json, sys
    prefixes = tuple(sys.argv[2].split(","))

    def sdk_modules():
        return sorted(m for m in sys.modules if m.split(".")[0].startswith(prefixes))

    import airflow_provider_imm.cli
    import airflow_provider_imm.get_provider_info
    import airflow_provider_imm.hooks.imm
    import airflow_provider_imm.hooks.mns
    after_import = sdk_modules()

    hook = airflow_provider_imm.hooks.imm.ImmHook(sys.argv[1])
    result = hook.test_connection()
    print(json.dumps({"after_import": after_import, "after_call": sdk_modules(), "result": result}))
    """
)


def test_imports_stay_sdk_free_and_the_default_chain_reads_the_environment(
    emulator: ImmEmulator, make_conn: MakeConn
) -> None:
    conn_id = make_conn(
        auth_type="default", endpoint=emulator.endpoint, protocol="http", project="test-project"
    )
    env = {
        **os.environ,
        "ALIBABA_CLOUD_ACCESS_KEY_ID": emulator.access_key_id,
        "ALIBABA_CLOUD_ACCESS_KEY_SECRET": emulator.access_key_secret,
        "ALIBABA_CLOUD_ECS_METADATA_DISABLED": "true",
    }
    completed = subprocess.run(
        [sys.executable, "-c", _SCRIPT, conn_id, ",".join(_SDK_PREFIXES)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    report = json.loads(completed.stdout.strip().splitlines()[-1])

    assert report["after_import"] == []
    assert "alibabacloud_imm20200930" in {m.split(".")[0] for m in report["after_call"]}
    ok, message = report["result"]
    assert ok, message
    assert message == f"Connected to IMM at http://{emulator.endpoint}: project 'test-project' is reachable."
    assert emulator.counters.get("imm", "GetProject") == 1
