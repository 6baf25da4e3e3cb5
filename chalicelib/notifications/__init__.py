"""Notifications: email and SMS through SES and SNS, and in-app notifications."""
