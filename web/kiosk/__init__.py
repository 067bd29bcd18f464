"""The kiosk's routes and pages (the domain is the top-level `kiosk` package)."""
