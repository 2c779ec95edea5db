"""IBKR options scalping bot: pure logic, config, messages and the wiring of the actor system."""

__version__ = "0.1.0"
