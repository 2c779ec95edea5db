"""A simulated IB Gateway speaking the TWS socket API. It never imports ib_insync."""
