"""Slack's requests into calls: the listeners (review, commands), the /slack/events endpoint, payload parsing."""
