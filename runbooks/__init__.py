"""irctl: incident-response runbooks that act on the resources ir-readiness provisions."""

__version__ = "0.1.0"
