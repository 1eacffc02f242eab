"""Compatibility alias: budgets now live in :mod:`tagcore.gateway.budgets`."""

from tagcore.gateway.budgets import BudgetExceeded, Budgets

__all__ = ["BudgetExceeded", "Budgets"]
