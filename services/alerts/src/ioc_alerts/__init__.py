"""The alerts service: targets, alert lifecycle and notifications (email, Zalo, webhooks)."""
