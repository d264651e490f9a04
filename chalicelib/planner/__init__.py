"""The AI planner: finds jobs due for analysis, runs one tool-calling session per due endpoint,
and writes hints through the scheduling chokepoint. Never in the execution path."""
