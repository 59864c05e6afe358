"""What the emulator's OSS API sustains through ``alibabacloud-oss-v2``, and what it costs the emulator.

Runs the emulator as its own process (``python -m airflow_provider_imm.emulator``) and measures, over
loopback with the unchanged SDK client (V4 signatures, CRC-64 checks on):

* one large object (``--large-mib``, 512 MiB by default) put from a file and read back into a file:
  MB/s each way, and the CPU seconds per GiB spent by the emulator process beside those spent by this
  client process over the same transfer (the baseline: the emulator should spend less, so it is never
  the bottleneck); and the growth of the emulator's peak resident memory (VmHWM) over the transfer,
  from its peak just before (goal: under 64 MiB: bodies stream, they are never held whole);
* small objects (``--small-bytes``): PutObject, then GetObject of each, ``--threads`` calls in flight;
  beside them, as the baseline of the same run, GetBucketAcl calls (the same client, signature check
  and XML answer, no object stored or read): what the client and the machine allow at that moment.

Prints the figures and writes them to ``benchmarks/results/oss_throughput.json``. Targets: 300 puts/s,
300 gets/s, emulator CPU per GiB below the client's, RSS growth under 64 MiB.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import resource
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import alibabacloud_oss_v2 as oss
from _common import EmulatorProcess, write_results

BUCKET = "bench"
MiB = 1024 * 1024
GiB = 1024 * MiB
TARGET_PER_SECOND = 300.0
TARGET_RSS_GROWTH = 64 * MiB


def _client(emu: EmulatorProcess) -> oss.Client:
    config = oss.config.load_default()
    config.region = emu.region
    config.endpoint = emu.oss_url
    config.credentials_provider = oss.credentials.StaticCredentialsProvider(
        emu.access_key_id, emu.access_key_secret
    )
    return oss.Client(config)


def _own_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _vm_hwm(emu: EmulatorProcess) -> int:
    return emu.peak_rss_bytes()


def measure_large(emu: EmulatorProcess, client: oss.Client, *, size: int, folder: Path) -> dict[str, Any]:
    source = folder / "large.bin"
    block = os.urandom(MiB)
    digest = hashlib.sha256()
    with source.open("wb") as file:
        for index in range(size // MiB):
            chunk = index.to_bytes(8, "big") + block[8:]
            file.write(chunk)
            digest.update(chunk)
    rss_before = _vm_hwm(emu)

    def timed(step: Any) -> tuple[float, float, float]:
        emulator_cpu, client_cpu, started = emu.cpu_seconds(), _own_cpu_seconds(), time.perf_counter()
        step()
        return (
            time.perf_counter() - started,
            emu.cpu_seconds() - emulator_cpu,
            _own_cpu_seconds() - client_cpu,
        )

    def upload() -> None:
        with source.open("rb") as body:
            client.put_object(oss.PutObjectRequest(bucket=BUCKET, key="large.bin", body=body))

    back = folder / "back.bin"
    received = hashlib.sha256()

    def download() -> None:
        result = client.get_object(oss.GetObjectRequest(bucket=BUCKET, key="large.bin"))
        with back.open("wb") as file:
            for chunk in result.body.iter_bytes(block_size=MiB):
                file.write(chunk)
                received.update(chunk)

    up = timed(upload)
    down = timed(download)
    rss_after = _vm_hwm(emu)
    source.unlink()
    back.unlink()
    gib = size / GiB

    def figures(seconds: float, emulator_cpu: float, client_cpu: float) -> dict[str, float]:
        return {
            "seconds": round(seconds, 3),
            "mb_per_second": round(size / MiB / seconds, 1),
            "emulator_cpu_seconds_per_gib": round(emulator_cpu / gib, 3),
            "client_cpu_seconds_per_gib": round(client_cpu / gib, 3),
        }

    return {
        "bytes": size,
        "unchanged": received.hexdigest() == digest.hexdigest(),
        "up": figures(*up),
        "down": figures(*down),
        "emulator_peak_rss_before_mb": round(rss_before / MiB, 1),
        "emulator_peak_rss_after_mb": round(rss_after / MiB, 1),
        "emulator_peak_rss_growth_mb": round((rss_after - rss_before) / MiB, 1),
    }


def measure_small(client: oss.Client, *, count: int, size: int, threads: int) -> dict[str, Any]:
    data = os.urandom(size)
    keys = [f"small/{index:06d}" for index in range(count)]

    def put(key: str) -> None:
        client.put_object(oss.PutObjectRequest(bucket=BUCKET, key=key, body=data))

    def get(key: str) -> None:
        assert client.get_object(oss.GetObjectRequest(bucket=BUCKET, key=key)).body.read() == data

    def baseline(key: str) -> None:
        client.get_bucket_acl(oss.GetBucketAclRequest(bucket=BUCKET))

    results = {}
    with ThreadPoolExecutor(threads) as pool:
        for name, call in (("baseline_calls", baseline), ("puts", put), ("gets", get)):
            started = time.perf_counter()
            list(pool.map(call, keys))
            elapsed = time.perf_counter() - started
            results[name] = {
                "calls": count,
                "seconds": round(elapsed, 3),
                "per_second": round(count / elapsed, 1),
            }
    return {"object_bytes": size, "threads": threads, **results}


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--large-mib", type=int, default=512, help="size of the large object, MiB")
    parser.add_argument("--small", type=int, default=3000, help="small objects to put, then get")
    parser.add_argument("--small-bytes", type=int, default=4096, help="size of each small object")
    parser.add_argument("--threads", type=int, default=16, help="small-object calls in flight")
    parser.add_argument(
        "--output", type=Path, default=Path(__file__).parent / "results" / "oss_throughput.json"
    )
    args = parser.parse_args()

    with EmulatorProcess(projects=["bench"]) as emu, tempfile.TemporaryDirectory() as folder:
        client = _client(emu)
        client.put_bucket(oss.PutBucketRequest(bucket=BUCKET))
        large = measure_large(emu, client, size=args.large_mib * MiB, folder=Path(folder))
        small = measure_small(client, count=args.small, size=args.small_bytes, threads=args.threads)

    targets = {
        "puts_per_second": {
            "target": TARGET_PER_SECOND,
            "met": small["puts"]["per_second"] >= TARGET_PER_SECOND,
        },
        "gets_per_second": {
            "target": TARGET_PER_SECOND,
            "met": small["gets"]["per_second"] >= TARGET_PER_SECOND,
        },
        "emulator_cpu_below_client": {
            "target": "emulator CPU s/GiB < client CPU s/GiB, up and down",
            "met": all(
                large[way]["emulator_cpu_seconds_per_gib"] < large[way]["client_cpu_seconds_per_gib"]
                for way in ("up", "down")
            ),
        },
        "emulator_rss_growth_mb": {
            "target": TARGET_RSS_GROWTH / MiB,
            "met": large["emulator_peak_rss_growth_mb"] < TARGET_RSS_GROWTH / MiB,
        },
        "large_object_unchanged": {"target": True, "met": large["unchanged"]},
    }
    results = {"machine": {"cpus": os.cpu_count()}, "large": large, "small": small, "targets": targets}
    write_results(args.output, results)
    for way in ("up", "down"):
        figures = large[way]
        print(
            f"large object {way}: {figures['mb_per_second']} MB/s "
            f"({args.large_mib} MiB in {figures['seconds']} s); CPU s/GiB emulator "
            f"{figures['emulator_cpu_seconds_per_gib']}, client {figures['client_cpu_seconds_per_gib']}"
        )
    print(
        f"emulator peak RSS growth over the {args.large_mib} MiB round trip: "
        f"{large['emulator_peak_rss_growth_mb']} MiB "
        f"({large['emulator_peak_rss_before_mb']} -> {large['emulator_peak_rss_after_mb']} MiB)"
    )
    print(
        f"small objects ({args.small_bytes} B, {args.threads} in flight): "
        f"{small['puts']['per_second']} puts/s, {small['gets']['per_second']} gets/s; baseline "
        f"(GetBucketAcl, no object) {small['baseline_calls']['per_second']} calls/s"
    )
    for name, target in targets.items():
        print(f"target {name} {target['target']}: {'met' if target['met'] else 'NOT MET'}")
    print(f"written to {args.output}")
    return 0 if all(t["met"] for t in targets.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
