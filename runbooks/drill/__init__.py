"""Rehearse the whole response: emulator, stack provisioning bridge, scenarios, report."""
