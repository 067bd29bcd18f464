"""Who may act where: staff serving several establishments, departments, keyworkers'
caseloads, verified staff email (issue 13).

Roles and what they permit are `core.permissions`; this package holds the facts
about people that the permissions are applied to. Each module owns one concept:
`serving` (which establishments a person serves, and which one a session acts
in), `departments`, `caseloads`, `email` (verification links), `staff` (the
admin's view of staff accounts and their role).
"""
