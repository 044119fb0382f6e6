"""volscope's one typed configuration and where each of its values came from.

Precedence, lowest first: built-in defaults, the TOML file (`--config PATH`, else
`volscope.toml` in the user config dir), `.env`, `VOLSCOPE_*` environment variables
(nested with `__`), command-line flags.
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import platformdirs
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    DotEnvSettingsSource,
    EnvSettingsSource,
    InitSettingsSource,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from core.analysis.records import DetectionParams, Method
from core.timeframes import (
    DEFAULT_TIMEFRAMES,
    Timeframe,
    TimeframeDefinitionError,
    TimeframeRegistry,
    validate_timeframe,
)

APP_NAME = "volscope"
ENV_PREFIX = "VOLSCOPE_"


def default_config_path() -> Path:
    return Path(platformdirs.user_config_dir(APP_NAME)) / "volscope.toml"


def data_dir() -> Path:
    return Path(platformdirs.user_data_dir(APP_NAME))


def _split_list(value: Any) -> Any:
    """Accept a list, a JSON array or a comma-separated string."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    if text.startswith("["):
        try:
            return json.loads(text)
        except json.JSONDecodeError as error:
            raise ValueError(f"not a valid JSON list ({error.msg})") from None
    return [item.strip() for item in text.split(",") if item.strip()]


def _check_zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError("unknown time zone; use an IANA name such as Asia/Tehran or UTC") from None
    return value


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SourceSettings(_Section):
    kind: Literal["demo", "files"] = "demo"
    """Candle source: the offline demo market, or a folder of candle files."""
    data: Path | None = None
    """Folder of candle files, for kind = "files"."""
    seed: int = 7
    """Seed of the demo market; the same seed always gives the same market."""
    symbol_count: int = Field(20, ge=1, le=500)
    """How many symbols the demo market simulates."""


class DetectionSettings(_Section):
    method: Method = Method.SIGMA
    lookback: int = Field(25, ge=2, le=10_000)
    low: float = Field(2.5, gt=0)
    medium: float = Field(4.0, gt=0)
    high: float = Field(6.0, gt=0)
    rvol_low: float = Field(2.0, gt=1)
    rvol_medium: float = Field(3.0, gt=1)
    rvol_high: float = Field(5.0, gt=1)
    min_relative_std: float = Field(1e-3, ge=0)
    rsi_period: int = Field(14, ge=2, le=1000)
    rsi_overbought: float = Field(70.0, gt=0, lt=100)
    rsi_oversold: float = Field(30.0, gt=0, lt=100)
    rsi_warmup: int = Field(250, ge=0, le=100_000)

    @model_validator(mode="after")
    def _ordered(self) -> "DetectionSettings":
        if not self.low < self.medium < self.high:
            raise ValueError(
                f"levels must rise: low < medium < high, got {self.low:g}, {self.medium:g}, {self.high:g}"
            )
        if not self.rvol_low < self.rvol_medium < self.rvol_high:
            raise ValueError(
                "rvol levels must rise: rvol_low < rvol_medium < rvol_high, got "
                f"{self.rvol_low:g}, {self.rvol_medium:g}, {self.rvol_high:g}"
            )
        if not self.rsi_oversold < self.rsi_overbought:
            raise ValueError(
                f"rsi_oversold ({self.rsi_oversold:g}) must be below rsi_overbought ({self.rsi_overbought:g})"
            )
        return self

    def params(self, method: Method | None = None) -> DetectionParams:
        values = self.model_dump()
        if method is not None:
            values["method"] = method
        return DetectionParams(**values)


class JobSettings(_Section):
    max_instances: int = Field(1, ge=1, le=1)
    """Runs of one timeframe that may overlap; always 1, so a slow run makes the next fire a skip."""
    coalesce: bool = True
    """Run once, not once per slot, after several fires were missed."""
    misfire_grace_time: int = Field(60, ge=1)
    """Seconds a fire may be late and still run; later fires are reported as missed."""
    run_timeout_fraction: float = Field(0.8, gt=0, lt=1)
    """A run is cancelled after this fraction of its interval, capped by max_run_timeout."""
    max_run_timeout: float = Field(600.0, gt=0)
    """Seconds after which any run is cancelled, whatever its interval."""


class TimeframeSettings(_Section):
    key: str = Field(min_length=1)
    name: str | None = None
    minutes: int = Field(gt=0)
    cron: str
    method: Method | None = None
    """Detection method for this timeframe only; unset uses detection.method."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        extra="forbid",
        validate_default=True,
    )

    display_timezone: str = "Asia/Tehran"
    """Time zone of every time shown on screen and in output."""
    schedule_timezone: str = "UTC"
    """Time zone the crons are evaluated in; UTC lands runs on exchange candle closes."""
    timeframes: Annotated[list[TimeframeSettings], NoDecode] = Field(default_factory=list)
    """Timeframes added to, or replacing by key, the built-in 5m, 1h, 4h and 1d."""
    symbols: Annotated[list[str], NoDecode] = Field(default_factory=list)
    """Symbols to watch; empty watches every symbol the source has."""
    start_timeframes: Annotated[list[str], NoDecode] | None = None
    """Timeframes whose jobs start when volscope opens for the first time; unset starts all."""
    source: SourceSettings = Field(default_factory=SourceSettings)
    detection: DetectionSettings = Field(default_factory=DetectionSettings)
    jobs: JobSettings = Field(default_factory=JobSettings)
    settle_delay: float = Field(10.0, ge=0, le=3600)
    """Seconds a run waits after its candle closed, so the exchange has the final candle."""
    store_path: Path | None = None
    """SQLite file for runs, spikes and job state; unset keeps one file per source in the user data dir."""
    catch_up_on_start: bool = True
    """Run a timeframe once on start when its scheduled run was missed while volscope was closed."""
    bell_on_high: bool = False
    """Ring the terminal bell when a high-level spike is found."""
    api_key: SecretStr | None = None
    """Exchange API key for live sources; never printed."""

    @field_validator("display_timezone", "schedule_timezone")
    @classmethod
    def _zones(cls, value: str) -> str:
        return _check_zone(value)

    @field_validator("symbols", "start_timeframes", mode="before")
    @classmethod
    def _lists(cls, value: Any) -> Any:
        return _split_list(value)

    @field_validator("timeframes", mode="before")
    @classmethod
    def _timeframe_list(cls, value: Any) -> Any:
        if isinstance(value, str):
            try:
                return json.loads(value)
            except json.JSONDecodeError as error:
                raise ValueError(f"not a valid JSON list of timeframes ({error.msg})") from None
        return value

    @field_validator("symbols")
    @classmethod
    def _unique_symbols(cls, value: list[str]) -> list[str]:
        return list(dict.fromkeys(value))

    @model_validator(mode="after")
    def _check_timeframes(self) -> "Settings":
        registry = self.registry()
        for key in self.start_timeframes or []:
            registry.get(key)
        if self.source.kind == "files" and self.source.data is None:
            raise ValueError("source.kind is 'files' but source.data is not set; give the folder with --data DIR")
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        layers = _LAYERS.get()
        if layers is None:
            return (init_settings,)
        return tuple(layer.source for layer in reversed(layers))

    # The timeframe registry and per-timeframe parameters are derived, not stored,
    # so they always agree with the validated fields above.
    def registry(self) -> TimeframeRegistry:
        merged: dict[str, Timeframe] = {timeframe.key: timeframe for timeframe in DEFAULT_TIMEFRAMES}
        for entry in self.timeframes:
            merged[entry.key] = Timeframe(entry.key, entry.name or entry.key, entry.minutes, entry.cron)
        ordered = sorted(merged.values(), key=lambda timeframe: timeframe.minutes)
        for timeframe in ordered:
            try:
                validate_timeframe(timeframe, self.schedule_timezone)
            except TimeframeDefinitionError as error:
                raise ValueError(str(error)) from None
        return TimeframeRegistry(ordered)

    def resolved_store_path(self, replay: bool = False) -> Path:
        """Return the store file: store_path when set, else one file per source.

        Runs of the demo market, of each candle folder and of a replay never share a file,
        so one's spikes and history never show up beside another's.
        """
        if self.store_path is not None:
            return self.store_path
        if self.source.kind == "files" and self.source.data is not None:
            folder = self.source.data.expanduser().resolve()
            digest = hashlib.sha1(str(folder).encode("utf-8")).hexdigest()[:8]
            name = f"files-{folder.name}-{digest}"
        else:
            name = f"demo-seed{self.source.seed}"
        if replay:
            name += "-replay"
        return data_dir() / f"{name}.sqlite"

    def detection_params(self, timeframe_key: str) -> DetectionParams:
        override = next((entry.method for entry in self.timeframes if entry.key == timeframe_key), None)
        return self.detection.params(override)


@dataclass
class _Layer:
    label: str
    source: PydanticBaseSettingsSource


_LAYERS: ContextVar[list[_Layer] | None] = ContextVar("volscope_settings_layers", default=None)


class SettingsError(Exception):
    """Configuration that cannot be used; the message names the field, the value and what is allowed."""


@dataclass
class LoadedSettings:
    settings: Settings
    origins: dict[str, str]
    """Origin of each effective value, by dotted field name."""
    config_path: Path


def load_settings(
    cli_values: dict[str, Any] | None = None,
    config_path: Path | None = None,
    env_file: Path | None = Path(".env"),
) -> LoadedSettings:
    """Build the settings from every layer, or raise SettingsError with one readable message."""
    explicit_config = config_path is not None
    path = config_path if explicit_config else default_config_path()
    if explicit_config and not path.is_file():
        raise SettingsError(f"Config file not found: {path}. Give an existing TOML file to --config.")
    if path.is_file():
        try:
            tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError, OSError) as error:
            raise SettingsError(f"Config file {path} is not valid TOML: {error}") from None

    cli_values = _drop_none(cli_values or {})
    layers = [
        _Layer(f"file {path}", TomlConfigSettingsSource(Settings, toml_file=path)),
        _Layer(f".env ({env_file})", DotEnvSettingsSource(Settings, env_file=env_file)),
        _Layer("environment", EnvSettingsSource(Settings)),
        _Layer("command line", InitSettingsSource(Settings, init_kwargs=cli_values)),
    ]
    token = _LAYERS.set(layers)
    try:
        settings = Settings()
    except ValidationError as error:
        raise SettingsError(_describe_validation_error(error, layers)) from None
    except ValueError as error:
        raise SettingsError(f"Invalid settings: {error}") from None
    finally:
        _LAYERS.reset(token)
    return LoadedSettings(settings, _origins(settings, layers), path)


def _drop_none(values: dict[str, Any]) -> dict[str, Any]:
    cleaned: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, dict):
            value = _drop_none(value)
            if not value:
                continue
        if value is not None:
            cleaned[key] = value
    return cleaned


def _flatten(values: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(values, dict):
        flat: dict[str, Any] = {}
        for key, value in values.items():
            flat.update(_flatten(value, f"{prefix}{key}."))
        return flat
    return {prefix.rstrip("."): values}


def _layer_values(layers: list[_Layer]) -> list[tuple[str, dict[str, Any]]]:
    found = []
    for layer in layers:
        try:
            found.append((layer.label, _flatten(layer.source())))
        except Exception:  # a layer that cannot even be read has already been reported
            found.append((layer.label, {}))
    return found


def _origin_of(field: str, layer_values: list[tuple[str, dict[str, Any]]]) -> str:
    for label, values in reversed(layer_values):
        for key in values:
            if key == field or key.startswith(field + ".") or field.startswith(key + "."):
                return label
    return "default"


def _origins(settings: Settings, layers: list[_Layer]) -> dict[str, str]:
    layer_values = _layer_values(layers)
    return {field: _origin_of(field, layer_values) for field in _flatten(settings.model_dump())}


def _describe_validation_error(error: ValidationError, layers: list[_Layer]) -> str:
    layer_values = _layer_values(layers)
    first = error.errors()[0]
    location = ".".join(str(part) for part in first["loc"])
    origin = _origin_of(location, layer_values) if location else "settings"
    message = first["msg"].removeprefix("Value error, ")
    if first["type"] == "extra_forbidden":
        return f"Unknown setting {location!r} (from {origin}). Run `volscope config` to see every setting."
    if not location:
        return message
    value = first.get("input")
    shown = "***" if "key" in location or "token" in location else repr(value)
    return f"Invalid setting {location} = {shown} (from {origin}): {message}"


def describe_settings(loaded: LoadedSettings) -> list[tuple[str, str, str]]:
    """Return (field, value, origin) rows for `volscope config`, secrets masked."""
    rows = []
    dumped = loaded.settings.model_dump(mode="json")
    if dumped["store_path"] is None:
        dumped["store_path"] = str(loaded.settings.resolved_store_path())
    for field, value in _flatten(dumped).items():
        if isinstance(value, list):
            value = json.dumps(value, ensure_ascii=False)
        rows.append((field, "" if value is None else str(value), loaded.origins.get(field, "default")))
    registry = loaded.settings.registry()
    for timeframe in registry:
        rows.append(
            (f"registry.{timeframe.key}", f"{timeframe.name}, {timeframe.minutes} min, cron {timeframe.cron!r}", "derived")
        )
    return rows
