"""Monitoring: realised accuracy, drift checks, alerts and the early retraining trigger."""
