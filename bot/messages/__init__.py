"""The message catalogue: everything that crosses an actor boundary.

All messages are frozen, slotted dataclasses holding plain values (str, int, float, tuples,
aware UTC datetimes, enums): never an ib_insync object, never a list or dict. Commands are
imperative (``SubmitBracket``); events are past tense (``OrderFilled``). Every command carries
a ``correlation_id``; the events it causes echo it, so a log search for one id shows the whole
story of one decision.

``values`` holds the records carried inside messages (contracts, bars, quotes, order specs),
``commands`` what is told to the broker side, ``events`` what happened, ``health`` timers and
pings, ``restart`` the journal, reconciliation and kill-switch messages. Import the package:
``from bot import messages as m``.
"""

from bot.messages.commands import *
from bot.messages.events import *
from bot.messages.health import *
from bot.messages.ids import new_correlation_id as new_correlation_id
from bot.messages.order_ref import OrderRef as OrderRef
from bot.messages.order_ref import intent_of as intent_of
from bot.messages.order_ref import parse_order_ref as parse_order_ref
from bot.messages.restart import *
from bot.messages.values import *
