"""Ready before the signal: which options a strategy keeps streaming, and when their quotes
may decide an entry without asking IB again.

On a real gateway, asking for the candidates after a signal costs a contract-details round
trip per option, then the first tick and the model greeks: a second or more after the bar
closed. So each strategy keeps a few options warm (qualified and streaming) around the
current spot, for the expiry the selection would take, and decides from their quotes at the
bar's close.

- **Which** (``warm_contracts``): the ``k`` strikes nearest spot, a call and a put of each
  (``2k`` lines, ``k = lines // 2``), for ``choose_expiry``'s expiry. ``strike_window``
  selection only: ``delta`` selection ranks by the greeks of a wider window and keeps asking.
- **Re-centring** (``warm_strikes``): the set moves only when the strike nearest spot is no
  longer in it, i.e. spot crossed the midpoint beyond the outermost warm strike. Spot
  swinging around one strike costs no message; each move costs one cancel and one request
  per option that changes.
- **Budget** (``lines_per_symbol``): at most ``options.prewarm_lines_per_symbol`` per
  symbol, cut (and made even) so that the warm lines of every symbol, plus each symbol's
  underlying stream, the streams of the open positions, and the candidates of as many
  selections at once as positions may open, fit within the broker's line limit (the pacing
  governor's 90 of IB's 100). The broker enforces the same cut on every ``KeepOptionsWarm``.
- **Deciding** (``decide_from_warm``): the choice over the warm quotes is the choice the full
  path would make only when every candidate at least as near spot as the chosen strike was
  judged on a warm quote (the ranking is by distance first). Otherwise (missing, stale or
  rejected quotes nearer spot, a strike outside the warm set) it answers None and the
  strategy asks for the candidates as before.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import date, datetime

from bot.app.config import OptionSettings
from bot.messages import OptionChain, OptionContract, Quote, Right
from bot.trading.selection import (
    DELTA_WINDOW_FACTOR,
    TIE_DIGITS,
    Selection,
    choose_expiry,
    select_option,
    valid_strikes,
)

RIGHTS = (Right.CALL, Right.PUT)


def selection_lines(cfg: OptionSettings) -> int:
    """Lines one selection without warm quotes holds while it asks (its candidates)."""
    return 2 * cfg.strike_window * (DELTA_WINDOW_FACTOR if cfg.selection == "delta" else 1)


def lines_per_symbol(cfg: OptionSettings, symbols: int, open_positions: int,
                     line_limit: int) -> int:
    """Warm lines each of ``symbols`` strategies may hold (see the module docstring): even,
    0 when prewarm is off, unusable (``delta`` selection) or nothing is left over."""
    if symbols <= 0 or cfg.selection != "strike_window":
        return 0
    concurrent = min(symbols, open_positions)
    reserved = symbols + open_positions + concurrent * selection_lines(cfg)
    free = max(0, line_limit - reserved) // symbols
    lines = min(cfg.prewarm_lines_per_symbol, free)
    return lines - lines % 2


def warm_strikes(strikes: Sequence[float], spot: float, per_right: int,
                 current: tuple[float, ...] = ()) -> tuple[float, ...]:
    """The strikes to keep warm, ascending: ``current`` while it still holds the strike
    nearest ``spot`` (and is a full set of chain strikes), else the ``per_right`` nearest."""
    valid = valid_strikes(tuple(strikes))
    if per_right <= 0 or not valid or not (math.isfinite(spot) and spot > 0):
        return ()
    nearest = min(valid, key=lambda s: (abs(s - spot), s))
    if len(current) == min(per_right, len(valid)) and nearest in current and \
            set(current) <= set(valid):
        return tuple(sorted(current))
    return tuple(sorted(sorted(valid, key=lambda s: (abs(s - spot), s))[:per_right]))


def warm_contracts(chain: OptionChain, spot: float, today: date, cfg: OptionSettings,
                   lines: int, current: Sequence[OptionContract] = ()) -> tuple[OptionContract, ...]:
    """The options to keep warm: a call and a put of each warm strike of the expiry the
    selection takes today (empty without an expiry, a spot, or ``lines`` < 2)."""
    expiry = choose_expiry(chain, today, cfg)
    if expiry is None or lines < 2 or cfg.selection != "strike_window":
        return ()
    held = tuple(sorted({c.strike for c in current if c.expiry == expiry}))
    strikes = warm_strikes(chain.strikes, spot, lines // 2, held)
    return tuple(
        OptionContract(symbol=chain.symbol, expiry=expiry, strike=s, right=right,
                       multiplier=chain.multiplier, trading_class=chain.trading_class,
                       exchange=chain.exchange)
        for s in strikes for right in RIGHTS
    )


def decide_from_warm(candidates: Sequence[OptionContract], warm: Mapping[str, Quote],
                     spot: float, right: Right, now: datetime,
                     cfg: OptionSettings) -> Selection | None:
    """The selection over the warm quotes of ``candidates`` when it is the one the full path
    would make (see the module docstring), else None (ask for the candidates instead)."""
    if cfg.selection != "strike_window" or not candidates:
        return None
    quotes = [warm[c.key] for c in candidates if c.key in warm]
    if not quotes:
        return None
    chosen = select_option(quotes, spot, right, now, cfg)
    if chosen.contract is None:
        return None
    reach = round(abs(chosen.contract.strike - spot), TIE_DIGITS)
    if any(round(abs(c.strike - spot), TIE_DIGITS) <= reach and c.key not in warm
           for c in candidates):
        return None
    return chosen
