"""A price table for the run summary's cost figures, read from a small TOML file the user points to.

    currency = "USD"            # optional, shown next to amounts (default USD)
    [models."m-large"]
    input = 3.00                # per million prompt (input) tokens
    output = 15.00              # per million completion (output) tokens

Without a table no money is shown: prices change too often for a built-in list to be right.
"""
from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agenttui.store.errors import AgentTuiError


class PriceError(AgentTuiError):
    """The price table cannot be used (its file, line or model is named)."""


@dataclass(frozen=True)
class Price:
    input: float
    output: float

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        return (prompt_tokens * self.input + completion_tokens * self.output) / 1_000_000


@dataclass(frozen=True)
class PriceTable:
    models: dict[str, Price]
    currency: str = "USD"

    def cost(self, model: str, prompt_tokens: int, completion_tokens: int) -> float | None:
        price = self.models.get(model)
        return None if price is None else price.cost(prompt_tokens, completion_tokens)


def _number(path: Path, model: str, key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise PriceError(f"{path}: models.{model!r}.{key} must be a number (price per million tokens), "
                         f"got {value!r}")
    if value < 0 or value != value or value == float("inf"):
        raise PriceError(f"{path}: models.{model!r}.{key} must be a finite price >= 0, got {value!r}")
    return float(value)


def load_prices(path: str | Path) -> PriceTable:
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PriceError(f"{path}: no such price table") from None
    except UnicodeDecodeError as exc:
        raise PriceError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except tomllib.TOMLDecodeError as exc:
        raise PriceError(f"{path}: not valid TOML: {exc}") from None
    models = data.get("models")
    if not isinstance(models, dict) or not models:
        raise PriceError(f'{path}: no [models."NAME"] tables with input = and output = prices per million tokens')
    currency = data.get("currency", "USD")
    if not isinstance(currency, str) or not currency.strip():
        raise PriceError(f"{path}: currency must be a name such as \"USD\", got {currency!r}")
    table: dict[str, Price] = {}
    for model, entry in models.items():
        if not isinstance(entry, dict):
            raise PriceError(f"{path}: models.{model!r} must be a table with input and output prices")
        unknown = sorted(set(entry) - {"input", "output"})
        if unknown:
            raise PriceError(f"{path}: models.{model!r}: unknown key {unknown[0]!r} (expected input and output)")
        for key in ("input", "output"):
            if key not in entry:
                raise PriceError(f"{path}: models.{model!r} has no {key} price (per million tokens)")
        table[model] = Price(_number(path, model, "input", entry["input"]),
                             _number(path, model, "output", entry["output"]))
    return PriceTable(table, currency.strip())
