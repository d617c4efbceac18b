"""Alerts for auditors: rules (pure functions), evaluation and lifecycle, delivery via an outbox."""
