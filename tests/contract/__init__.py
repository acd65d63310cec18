"""Contract suites: written once against a port, run by a subclass per adapter."""
