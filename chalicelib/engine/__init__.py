"""The scheduling engine: the scheduling chokepoint, and later dispatcher and executor."""
