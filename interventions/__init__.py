"""Digital interventions: programmes, sessions, scored questionnaires, keyworker views.

Imports core, audit and scheduling; never kiosk or campus
(tests/test_architecture.py holds the graph).
"""
