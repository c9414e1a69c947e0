"""The lab: a synthetic hosting provider's DNS, served on loopback for tests and demos."""
