"""The learning campus: courses, lessons, assessments and learning records.

Imports core, audit and scheduling; never kiosk or interventions
(tests/test_architecture.py holds the graph).
"""
