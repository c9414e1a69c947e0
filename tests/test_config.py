import re
from pathlib import Path

import pytest

from scanner.core.config import ConfigError, ScanConfig
from scanner.scan.workers import worker_config

ROOT = Path(__file__).resolve().parent.parent


def test_default_yaml_documents_exactly_the_defaults():
    import dataclasses

    import yaml

    path = ROOT / "configs" / "default.yaml"
    assert set(yaml.safe_load(path.read_text())) == {f.name for f in dataclasses.fields(ScanConfig)}
    assert ScanConfig.load(str(path)) == ScanConfig()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"concurency": 5}, r"unknown key 'concurency' \(did you mean 'concurrency'\?\)"),
        ({"concurrency": 0}, "concurrency: expected a positive integer, got 0"),
        ({"concurrency": "many"}, "concurrency: expected a positive integer"),
        ({"concurrency": 65_536}, "concurrency: at most 10000 queries in flight, got 65536"),
        ({"timeout": -1}, "timeout: expected seconds > 0 and at most 300, got -1"),
        ({"timeout": float("inf")}, "timeout: expected seconds > 0, got inf"),
        ({"give_up_after": 0}, "give_up_after: expected seconds > 0"),
        ({"retries": True}, "retries: expected an integer >= 0"),
        ({"resolvers": ["dns.example"]}, "resolvers: bad resolver 'dns.example'"),
        ({"exclude": [1]}, "exclude: expected a list of strings"),
        ({"format": "xml"}, "format: expected one of csv, jsonl, xlsx"),
    ],
)
def test_bad_settings_name_the_key(data, message):
    with pytest.raises(ConfigError, match=rf"^nightly\.yaml: {message}"):
        ScanConfig.from_mapping(data, "nightly.yaml")


def test_flags_override_the_file_and_none_keeps_it(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("concurrency: 50\ntimeout: 1.5\nresolvers: [127.0.0.1:5353]\n")
    config = ScanConfig.load(str(path)).updated(concurrency=10, timeout=None)
    assert (config.concurrency, config.timeout, config.resolvers) == (10, 1.5, ("127.0.0.1:5353",))


def test_invalid_yaml_and_non_mapping(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("concurrency: [1\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        ScanConfig.load(str(bad))
    bad.write_text("- 1\n")
    with pytest.raises(ConfigError, match="expected a mapping"):
        ScanConfig.load(str(bad))


def test_workers_share_the_burst_so_the_scan_keeps_rate_plus_burst():
    shares = worker_config(ScanConfig(rate=2000, burst=20), 2)
    assert shares.rate == 1000 and shares.burst == 10
    assert worker_config(ScanConfig(rate=2000, burst=1), 4).burst == 1


def test_a_config_nested_too_deep_is_refused_with_its_line(tmp_path):
    deep = tmp_path / "deep.yaml"
    deep.write_text("rate: 10\nx: " + "[" * 500 + "1" + "]" * 500 + "\n")
    with pytest.raises(ConfigError, match=r"nested deeper than 32 levels[\s\S]*line 2"):
        ScanConfig.load(str(deep))
    usual = tmp_path / "usual.yaml"
    usual.write_text("rate: 10\nresolvers: [127.0.0.1]\n")
    assert ScanConfig.load(str(usual)).rate == 10


def test_a_key_given_twice_is_refused_naming_both_lines(tmp_path):
    twice = tmp_path / "twice.yaml"
    twice.write_text("rate: 100\nburst: 5\nrate: 0\n")  # the last would have won: no limit
    with pytest.raises(
        ConfigError, match=r"the key 'rate' is given twice \(first on line 1\).*line 3"
    ):
        ScanConfig.load(str(twice))


def test_an_alias_bomb_is_refused_in_a_short_message_and_little_memory(tmp_path):
    import tracemalloc

    bomb = tmp_path / "bomb.yaml"
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for name, previous in zip("bcdefgh", "abcdefg", strict=True):
        lines.append(f"{name}: &{name} [{','.join([f'*{previous}'] * 9)}]")
    lines.append(f"exclude: [{','.join(['*h'] * 9)}]")
    bomb.write_text("\n".join(lines) + "\n")  # 9^9 strings if expanded
    tracemalloc.start()
    with pytest.raises(ConfigError) as caught:
        ScanConfig.load(str(bomb))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert "aliases (*name) are not allowed" in str(caught.value)
    assert len(str(caught.value)) < 400 and peak < 5_000_000


def test_a_yaml_error_quoting_control_characters_is_escaped(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("rate: [1\n\x1b[2J: 2\n")
    with pytest.raises(ConfigError) as caught:
        ScanConfig.load(str(bad))
    assert "\x1b" not in str(caught.value)


def test_a_job_file_alone_runs_the_scan_and_writes_its_outputs(small_lab, tmp_path):
    """resolvers, targets, outputs and zone_owner from the file; its paths from its directory."""
    import csv
    import json

    from helpers import fcrdns

    lab, _ = small_lab
    jobs = tmp_path / "jobs"
    jobs.mkdir()
    (jobs / "job.yaml").write_text(
        f"resolvers: ['{lab.address}']\n"
        "targets: [198.18.0.0/28]\n"
        "target_files: [more.txt]\n"
        "outputs: [out.csv, out.jsonl]\n"
        "summary: out-summary.json\n"
        "zone_owner: true\n"
        "rate: 0\n"
    )
    (jobs / "more.txt").write_text("2001:db8:5::/126\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    done = fcrdns("scan", "--config", str(jobs / "job.yaml"), "-q", cwd=elsewhere)
    assert done.returncode == 0, done.stderr
    assert not list(elsewhere.iterdir())  # the job's files are beside the job
    with (jobs / "out.csv").open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 16 + 4
    assert all(row["ptr_zone"] for row in rows if row["status"] == "pass")  # zone_owner ran
    assert len((jobs / "out.jsonl").read_text().splitlines()) == 20
    assert json.loads((jobs / "out-summary.json").read_text())["rows"] == 20
    # Flags override the file: a target given replaces the job's, an output too.
    one, summary = str(tmp_path / "one.csv"), str(tmp_path / "one.json")
    done = fcrdns("scan", "--config", str(jobs / "job.yaml"), "-q", "198.18.0.1",
                  "-o", one, "--summary", summary)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads((tmp_path / "one.json").read_text())["rows"] == 1


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("target: [198.18.0.0/24]\n", r"unknown key 'target' \(did you mean 'targets'\?\)"),
        ("zone_owner: yes please\n", "zone_owner: expected true or false"),
        ("outputs: out.csv\nsummary: 3\n", "summary: expected a file name, got '3'"),
        ("fail_on: [new:bogus]\n", "--fail-on: unknown 'new:bogus'"),
    ],
)
def test_a_bad_job_file_is_refused_before_scanning(tmp_path, text, message):
    from helpers import fcrdns

    job = tmp_path / "job.yaml"
    job.write_text("resolvers: [127.0.0.1:9]\n" + text)
    done = fcrdns("scan", "--config", str(job), "198.18.0.1", "-o", str(tmp_path / "o.csv"))
    assert done.returncode == 2
    assert re.search(message, done.stderr), done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "o.csv").exists()


def test_the_example_job_file_is_valid():
    from scanner.core.jobfile import JobFile

    job = JobFile.load(str(ROOT / "configs" / "job.yaml"))
    assert job.fail_on == ("new",) and job.resume and job.zone_owner
