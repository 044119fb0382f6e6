"""Settings layers, their precedence, the origin of each value, and readable errors."""

from __future__ import annotations

import pytest

from core.settings import SettingsError, describe_settings, load_settings


def write(path, text):
    path.write_text(text, encoding="utf-8")
    return path


def origins(loaded):
    return {field: origin for field, _, origin in describe_settings(loaded)}


def test_defaults(tmp_path):
    loaded = load_settings(config_path=write(tmp_path / "v.toml", ""), env_file=None)
    settings = loaded.settings
    assert settings.display_timezone == "Asia/Tehran"
    assert settings.schedule_timezone == "UTC"
    assert settings.settle_delay == 10.0
    assert settings.jobs.max_instances == 1
    assert settings.jobs.coalesce is True
    assert settings.jobs.misfire_grace_time == 60
    assert settings.source.kind == "demo"
    assert settings.registry().keys() == ["5m", "1h", "4h", "1d"]
    assert origins(loaded)["display_timezone"] == "default"


def test_precedence_lowest_first(tmp_path, monkeypatch):
    config = write(tmp_path / "v.toml", 'display_timezone = "Europe/London"\nsettle_delay = 1\nsymbols = ["A"]\n')
    dotenv = write(tmp_path / ".env", "VOLSCOPE_SETTLE_DELAY=2\nVOLSCOPE_SYMBOLS=B,C\n")
    monkeypatch.setenv("VOLSCOPE_SYMBOLS", "D,E")

    loaded = load_settings({"settle_delay": 3.0}, config_path=config, env_file=dotenv)

    assert loaded.settings.display_timezone == "Europe/London"
    assert loaded.settings.symbols == ["D", "E"]
    assert loaded.settings.settle_delay == 3.0
    where = origins(loaded)
    assert where["display_timezone"] == f"file {config}"
    assert where["symbols"] == "environment"
    assert where["settle_delay"] == "command line"


def test_dotenv_beats_file(tmp_path):
    config = write(tmp_path / "v.toml", "settle_delay = 1\n")
    dotenv = write(tmp_path / ".env", "VOLSCOPE_SETTLE_DELAY=2\n")
    loaded = load_settings(config_path=config, env_file=dotenv)
    assert loaded.settings.settle_delay == 2.0
    assert origins(loaded)["settle_delay"] == f".env ({dotenv})"


def test_list_from_json_env(tmp_path, monkeypatch):
    monkeypatch.setenv("VOLSCOPE_SYMBOLS", '["ETH_BTC", "LTC_BTC"]')
    loaded = load_settings(config_path=write(tmp_path / "v.toml", ""), env_file=None)
    assert loaded.settings.symbols == ["ETH_BTC", "LTC_BTC"]


def test_nested_env(tmp_path, monkeypatch):
    monkeypatch.setenv("VOLSCOPE_DETECTION__LOOKBACK", "30")
    monkeypatch.setenv("VOLSCOPE_SOURCE__KIND", "files")
    monkeypatch.setenv("VOLSCOPE_SOURCE__DATA", str(tmp_path))
    loaded = load_settings(config_path=write(tmp_path / "v.toml", ""), env_file=None)
    assert loaded.settings.detection.lookback == 30
    assert loaded.settings.source.kind == "files"
    assert origins(loaded)["detection.lookback"] == "environment"


def test_bad_zone_names_field_value_and_origin(tmp_path, monkeypatch):
    monkeypatch.setenv("VOLSCOPE_DISPLAY_TIMEZONE", "Mars/Base")
    with pytest.raises(SettingsError) as caught:
        load_settings(config_path=write(tmp_path / "v.toml", ""), env_file=None)
    assert str(caught.value) == (
        "Invalid setting display_timezone = 'Mars/Base' (from environment): "
        "unknown time zone; use an IANA name such as Asia/Tehran or UTC"
    )


def test_bad_number_in_file(tmp_path):
    config = write(tmp_path / "v.toml", "[detection]\nlookback = 1\n")
    with pytest.raises(SettingsError, match=r"Invalid setting detection\.lookback = 1 \(from file .*v\.toml\): Input should be greater than or equal to 2"):
        load_settings(config_path=config, env_file=None)


def test_unknown_setting_named(tmp_path):
    config = write(tmp_path / "v.toml", 'dispaly_timezone = "UTC"\n')
    with pytest.raises(SettingsError, match=r"Unknown setting 'dispaly_timezone'"):
        load_settings(config_path=config, env_file=None)


def test_missing_config_file(tmp_path):
    with pytest.raises(SettingsError, match=r"Config file not found: .*nope\.toml"):
        load_settings(config_path=tmp_path / "nope.toml", env_file=None)


def test_broken_toml(tmp_path):
    config = write(tmp_path / "v.toml", "display_timezone = \n")
    with pytest.raises(SettingsError, match="is not valid TOML"):
        load_settings(config_path=config, env_file=None)


def test_user_timeframe_added(tmp_path):
    config = write(
        tmp_path / "v.toml",
        '[[timeframes]]\nkey = "15m"\nname = "15 Minutes"\nminutes = 15\ncron = "*/15 * * * *"\nmethod = "rvol"\n',
    )
    settings = load_settings(config_path=config, env_file=None).settings
    assert settings.registry().keys() == ["5m", "15m", "1h", "4h", "1d"]
    assert settings.detection_params("15m").method.value == "rvol"
    assert settings.detection_params("1h").method.value == "sigma"


def test_user_timeframe_bad_cron(tmp_path):
    config = write(tmp_path / "v.toml", '[[timeframes]]\nkey = "15m"\nminutes = 15\ncron = "*/5 * * * *"\n')
    with pytest.raises(SettingsError, match="timeframe 15m: cron '\\*/5 \\* \\* \\* \\*' fires every 5 minutes"):
        load_settings(config_path=config, env_file=None)


def test_unknown_start_timeframe(tmp_path):
    config = write(tmp_path / "v.toml", 'start_timeframes = ["10m"]\n')
    with pytest.raises(SettingsError) as caught:
        load_settings(config_path=config, env_file=None)
    assert "Invalid timeframe: 10m. Available: ['5m', '1h', '4h', '1d']" in str(caught.value)


def test_levels_must_rise(tmp_path):
    config = write(tmp_path / "v.toml", "[detection]\nlow = 5\nmedium = 4\n")
    with pytest.raises(SettingsError, match="levels must rise: low < medium < high, got 5, 4, 6"):
        load_settings(config_path=config, env_file=None)


def test_files_source_needs_folder(tmp_path):
    with pytest.raises(SettingsError, match="source.kind is 'files' but source.data is not set"):
        load_settings({"source": {"kind": "files"}}, config_path=write(tmp_path / "v.toml", ""), env_file=None)


def test_secret_masked(tmp_path, monkeypatch):
    monkeypatch.setenv("VOLSCOPE_API_KEY", "very-secret-key")
    loaded = load_settings(config_path=write(tmp_path / "v.toml", ""), env_file=None)
    values = {field: value for field, value, _ in describe_settings(loaded)}
    assert "very-secret-key" not in values["api_key"]
    assert values["api_key"].startswith("***")
    assert loaded.settings.api_key.get_secret_value() == "very-secret-key"


def test_default_config_file_read(tmp_path, monkeypatch):
    config_home = tmp_path / "xdg"
    (config_home / "volscope").mkdir(parents=True)
    write(config_home / "volscope" / "volscope.toml", 'display_timezone = "UTC"\n')
    monkeypatch.setenv("XDG_CONFIG_HOME", str(config_home))
    loaded = load_settings(env_file=None)
    assert loaded.settings.display_timezone == "UTC"


def test_store_per_source(tmp_path):
    config = write(tmp_path / "v.toml", "")
    demo = load_settings(config_path=config, env_file=None).settings
    files_a = load_settings({"source": {"kind": "files", "data": str(tmp_path / "a")}}, config_path=config, env_file=None).settings
    files_b = load_settings({"source": {"kind": "files", "data": str(tmp_path / "b")}}, config_path=config, env_file=None).settings
    chosen = load_settings({"store_path": str(tmp_path / "mine.sqlite")}, config_path=config, env_file=None).settings

    paths = {
        demo.resolved_store_path(),
        demo.resolved_store_path(replay=True),
        files_a.resolved_store_path(),
        files_a.resolved_store_path(replay=True),
        files_b.resolved_store_path(),
    }
    assert len(paths) == 5
    assert demo.resolved_store_path().name == "demo-seed7.sqlite"
    assert files_a.resolved_store_path().name.startswith("files-a-")
    assert chosen.resolved_store_path(replay=True) == tmp_path / "mine.sqlite"
