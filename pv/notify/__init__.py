"""Notifications: in-app, and by e-mail when SMTP is configured."""
