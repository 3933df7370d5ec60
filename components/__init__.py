"""Pulumi component resources that provision incident-response readiness."""
