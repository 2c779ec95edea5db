"""Pure trading logic: indicators, signals, option selection, sizing, risk limits, brackets and
exits, the trade lifecycle, quote hygiene, market hours and the NYSE calendar.

No pykka, no ib_insync, no sqlite, no I/O; time is passed in. Everything here is a function of
its arguments, so the same code runs live, in the simulator and under test.
"""
