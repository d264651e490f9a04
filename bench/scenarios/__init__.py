"""Planner scenarios shared by the simulator, the model evaluation and the end-to-end tests."""
