"""The in-cell kiosk: money (a ledger), shop, visits, applications and the timetable.

Imports core, audit and scheduling (regime, lockdown's suspension); never campus or
interventions (tests/test_architecture.py holds the graph).
"""
